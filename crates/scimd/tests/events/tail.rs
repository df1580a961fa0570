//! `scimd events tail`: the log as JSON lines, in seq order, each line the event the pull API
//! returns; `--type` and `--after` narrow it, a bad `--type` is refused before anything is
//! printed, and `--follow` prints what is committed after it started.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use reqwest::Method;
use serde_json::Value;

use super::super::{BIN, PATIENCE, Server, db_url};
use super::{Api, TENANT, add_members, cli, okta_active, prepare, seq, text};

/// The (seq, type, resource id) of each line `events tail` printed, checking every line is JSON.
fn lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}"))).collect()
}

fn summary(events: &[Value]) -> Vec<(u64, String, String)> {
    events
        .iter()
        .map(|e| {
            (seq(e), e["type"].as_str().unwrap().to_owned(), e["resource"]["id"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_tail_prints_the_log_in_order_and_filters_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = db_url(dir.path());
    let tokens = prepare(&database);
    let mut server = Server::start_on(&database, &[]);
    let api = Api::new(&server.addr(), &tokens);

    // Six writes, six events, in this order.
    let mut expected: Vec<(u64, String, String)> = Vec::new();
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let a = api.create_user(name, name).await;
        assert_eq!(a.status, 201, "{}", a.body);
        users.push(a.id());
        expected.push((expected.len() as u64 + 1, "user.created".into(), a.id()));
    }
    let g = api.create_group("staff", &[]).await;
    assert_eq!(g.status, 201, "{}", g.body);
    let group = g.id();
    expected.push((4, "group.created".into(), group.clone()));
    let a = api.scim(Method::PATCH, &format!("/Groups/{group}"), Some(&add_members(&[&users[0]]))).await;
    assert!(a.status.is_success(), "{}", a.body);
    expected.push((5, "group.member_added".into(), group.clone()));
    let a = api.scim(Method::PATCH, &format!("/Users/{}", users[1]), Some(&okta_active(false))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    expected.push((6, "user.deactivated".into(), users[1].clone()));

    let tail = |args: &[&str]| {
        let mut all = vec!["events", "tail", "--tenant", TENANT];
        all.extend_from_slice(args);
        let o = cli(&database, &all);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        lines(&text(&o.stdout))
    };
    let everything = tail(&[]);
    assert_eq!(summary(&everything), expected);
    // Each line is the event exactly as the pull API returns it.
    let (from_api, _) = api.page(0, 100, 0).await;
    assert_eq!(everything, from_api);

    let only = |keep: &dyn Fn(&str) -> bool, after: u64| -> Vec<(u64, String, String)> {
        expected.iter().filter(|(s, t, _)| keep(t) && *s > after).cloned().collect()
    };
    assert_eq!(summary(&tail(&["--type", "user.*"])), only(&|t| t.starts_with("user."), 0));
    assert_eq!(summary(&tail(&["--after", "3"])), only(&|_| true, 3));
    assert_eq!(summary(&tail(&["--after", "3", "--type", "user.*"])), only(&|t| t.starts_with("user."), 3));
    assert_eq!(
        summary(&tail(&["--type", "group.member_added", "--type", "user.deactivated"])),
        only(&|t| t == "group.member_added" || t == "user.deactivated", 0)
    );
    assert_eq!(tail(&["--after", "6"]), Vec::<Value>::new(), "nothing after the head");

    for bad in ["users.*", "user.nope", "*"] {
        let o = cli(&database, &["events", "tail", "--tenant", TENANT, "--type", bad]);
        assert!(!o.status.success(), "--type {bad} was accepted");
        assert_eq!(text(&o.stdout), "", "--type {bad}: nothing on stdout");
        let err = text(&o.stderr);
        assert!(err.contains("--type") && err.contains(bad) && err.contains("user.*"), "--type {bad}: {err}");
    }
    let o = cli(&database, &["events", "tail", "--tenant", TENANT, "--after", "7"]);
    assert!(!o.status.success(), "an after beyond the head is refused");
    assert_eq!(text(&o.stdout), "");

    // --follow: what is there, then what is committed while it runs.
    let mut follow = Command::new(BIN)
        .args(["--database", &database, "events", "tail", "--tenant", TENANT, "--after", "4", "--follow"])
        .env_remove("SCIMD_DATABASE_URL")
        .env_remove("SCIMD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        serde_json::from_str(&rx.recv_timeout(PATIENCE).expect("a line from --follow")).unwrap()
    };
    assert_eq!(summary(&[next(), next()]), only(&|_| true, 4));
    let d = api.scim(Method::DELETE, &format!("/Users/{}", users[2]), None).await;
    assert_eq!(d.status, 204, "{}", d.body);
    assert_eq!(summary(&[next()]), [(7, "user.deleted".to_owned(), users[2].clone())]);
    follow.kill().unwrap();
    follow.wait().unwrap();

    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}
