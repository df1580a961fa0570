// scimd console: the little that needs a script. Every page works without it.
// Served from /console/assets (the Content-Security-Policy allows no inline script).
"use strict";

// Copy buttons: <button data-copy="ID"> copies the text of the element with that id.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) return;
  var text = source.textContent;
  var done = function () {
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { select(source); });
  } else {
    select(source);
  }
});

// Where the clipboard is not available (plain http on another host), select the text instead.
function select(element) {
  var range = document.createRange();
  range.selectNodeContents(element);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

// The provisioning log's live tail: server-sent events, one JSON record each, added on top of the
// table. Values are set with textContent: nothing a SCIM client sent is parsed as HTML.
(function () {
  var toggle = document.getElementById("live");
  var table = document.querySelector("#log tbody");
  if (!toggle || !table) return;
  var source = null;
  var after = toggle.getAttribute("data-after") || "";
  var classOf = function (status) { return status < 400 ? "ok" : status < 500 ? "refused" : "failed"; };
  var cell = function (row, text, code) {
    var td = document.createElement("td");
    if (code) {
      var c = document.createElement("code");
      c.textContent = text;
      td.appendChild(c);
    } else {
      td.textContent = text;
    }
    row.appendChild(td);
    return td;
  };
  var open = function () {
    var params = new URLSearchParams(window.location.search);
    params.delete("before");
    if (after) params.set("after", after);
    source = new EventSource(toggle.getAttribute("data-tail") + "?" + params.toString());
    source.onmessage = function (event) {
      var e = JSON.parse(event.data);
      after = e.id;
      var row = document.createElement("tr");
      row.className = classOf(e.status) + " arrived";
      var first = cell(row, "");
      var link = document.createElement("a");
      link.href = "/console/logs/" + encodeURIComponent(e.id);
      link.textContent = e.time;
      first.appendChild(link);
      cell(row, e.client);
      cell(row, e.method + " " + e.path, true);
      cell(row, String(e.status));
      cell(row, e.detail);
      table.insertBefore(row, table.firstChild);
      var empty = document.getElementById("empty");
      if (empty) empty.remove();
    };
    // The stream ends after a few minutes (the server checks the session again on reconnect):
    // reopen from the last record seen.
    source.onerror = function () {
      source.close();
      source = null;
      if (toggle.checked) setTimeout(open, 2000);
    };
  };
  toggle.addEventListener("change", function () {
    if (toggle.checked && !source) open();
    if (!toggle.checked && source) { source.close(); source = null; }
  });
})();
