//! Storage faults under a running `scimd serve`: a disk that stops taking writes, then takes them
//! again. The server must answer clean errors and report itself unready while writes fail, and
//! every surface must work again afterwards without a restart.
//!
//! The fault is injected from outside, as the disk would cause it: the server's file-size limit
//! (`RLIMIT_FSIZE`, setrlimit(2)) is lowered to one byte with prlimit(1), so every write to a
//! database file fails with `EFBIG` (SQLite: `SQLITE_IOERR_WRITE`, as with `ENOSPC` it answers
//! `SQLITE_FULL`), then raised again. No mount is needed, and only the server process is affected.
//! The server starts with `SIGXFSZ` ignored, so an oversized write fails instead of killing it
//! (setrlimit(2): "the process is sent a SIGXFSZ signal"; an ignored signal stays ignored across
//! execve(2)).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use super::{BIN, Server, client, db_url, scimd, stderr, stdout};

/// `scimd serve` on the database in `dir`, with SIGXFSZ ignored.
fn start_ignoring_sigxfsz(dir: &Path) -> Server {
    let mut wrapper = Command::new("sh");
    wrapper.args(["-c", "trap '' XFSZ; exec \"$0\" \"$@\""]).arg(BIN);
    Server::spawn(wrapper, &db_url(dir), &[])
}

/// Sets the file-size limit of process `pid` (soft limit; the hard one stays unlimited).
fn limit_file_size(pid: u32, soft: &str) {
    let o = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--fsize={soft}:unlimited")])
        .output()
        .expect("run prlimit (util-linux)");
    assert!(o.status.success(), "prlimit: {}", stderr(&o));
}

/// A response's status and body (JSON, or the text as a JSON string).
async fn answer(r: reqwest::RequestBuilder) -> (u16, Value) {
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// What no client may read: SQLite's and sqlx's own words.
fn assert_no_internal_text(body: &Value) {
    let text = body.to_string().to_lowercase();
    for word in ["sqlite", "i/o", "disk", "transaction", "begin_with", "sqlx", "rollback", "commit"] {
        assert!(!text.contains(word), "internal text {word:?} reached the client: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_disk_is_unready_and_every_surface_recovers_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let scim = stdout(&scimd(dir.path(), &["token", "create", "--tenant", "acme"])).trim().to_owned();
    let operator =
        stdout(&scimd(dir.path(), &["token", "create", "--tenant", "acme", "--operator", "--name", "ops"]))
            .trim()
            .to_owned();
    let o = scimd(
        dir.path(),
        &["client", "create", "--tenant", "acme", "--grant", "client_credentials", "--scope", "users:read"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let entra: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let (client_id, secret) = (
        entra["client_id"].as_str().unwrap().to_owned(),
        entra["client_secret"].as_str().unwrap().to_owned(),
    );

    let mut server = start_ignoring_sigxfsz(dir.path());
    let base = format!("http://{}", server.addr());
    let pid = server.child.id();
    let c = client();
    let user = |name: &str| {
        c.post(format!("{base}/tenants/acme/scim/v2/Users"))
            .bearer_auth(&scim)
            .header("content-type", "application/scim+json")
            .body(
                json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
                    .to_string(),
            )
    };
    let token = || {
        c.post(format!("{base}/oauth2/token"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
    };
    let new_client = || {
        c.post(format!("{base}/admin/v1/tenants/acme/clients"))
            .bearer_auth(&operator)
            .json(&json!({"grant_type": "client_credentials", "scopes": ["users:read"]}))
    };
    let ready = || c.get(format!("{base}/readyz"));

    assert_eq!(answer(user("before@example.com")).await.0, 201);
    assert_eq!(answer(ready()).await.0, 200);

    // The disk stops taking writes.
    limit_file_size(pid, "1");
    let (status, body) = answer(user("during@example.com")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "503");
    assert!(body["detail"].as_str().unwrap().contains("request id"), "{body}");
    assert_no_internal_text(&body);
    let (status, body) = answer(token()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_no_internal_text(&body);
    let (status, body) = answer(new_client()).await;
    assert_eq!(status, 503, "a storage fault is not the client's mistake: {body}");
    assert_no_internal_text(&body);
    let (status, body) = answer(ready()).await;
    assert_eq!(status, 503, "writes fail: not ready ({body})");
    assert_no_internal_text(&body);

    // The disk takes writes again: no restart.
    limit_file_size(pid, "unlimited");
    let (status, body) = answer(ready()).await;
    assert_eq!(status, 200, "a probe write reaches the disk: ready again ({body})");
    let (status, body) = answer(user("after@example.com")).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = answer(token()).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = answer(new_client()).await;
    assert_eq!(status, 201, "{body}");
    // The provisioning log's writer kept the records it could not write during the fault and
    // wrote them afterwards, and took the records that came after it. It writes in the
    // background: a bounded wait for the records, not a timing assertion.
    let logs = c.get(format!("{base}/admin/v1/tenants/acme/logs?count=1000")).bearer_auth(&operator);
    let mut recorded = false;
    for _ in 0..300 {
        let (status, body) = answer(logs.try_clone().unwrap()).await;
        assert_eq!(status, 200, "{body}");
        let text = body.to_string();
        if text.contains("after@example.com") && text.contains("during@example.com") {
            recorded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recorded, "the records of the requests during and after the fault are in the provisioning log");
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{exit:?}: {log:#?}");
}
