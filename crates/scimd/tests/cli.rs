//! The `scimd` binary as an operator uses it: `migrate`, `tenant create`, `token create`, and
//! `serve` on a temporary database (first-start bootstrap, health, a token at work, SIGTERM).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "integration tests: a panic is a failed test (clippy's test exemption misses helper fns)"
)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use serde_json::Value;

mod domains;
mod events;
mod faults;
mod oauth;
mod provisioning_log;
mod tenants;
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_scimd");

/// How long to wait for a line the server should print; a generous bound against a hang, not a
/// timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

fn db_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("scimd.db").display())
}

/// Runs a one-shot command against the database in `dir`, with no inherited SCIMD_* settings.
fn scimd(dir: &Path, args: &[&str]) -> Output {
    scimd_on(&db_url(dir), args)
}

/// Runs a one-shot command against any database URL, with no inherited SCIMD_* settings.
fn scimd_on(database: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["--database", database])
        .args(args)
        .env_remove("SCIMD_DATABASE_URL")
        .env_remove("SCIMD_CONFIG")
        .env_remove("SCIMD_LISTEN")
        .env_remove("SCIMD_BASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("run scimd")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A running `scimd serve`, its stdout and stderr lines arriving on channels.
struct Server {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    /// Lines of stderr seen so far.
    log: Vec<String>,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_on(&db_url(dir), &[])
    }

    /// `scimd serve` on any database URL, with extra environment variables.
    fn start_on(database: &str, env: &[(&str, &str)]) -> Server {
        Server::spawn(Command::new(BIN), database, env)
    }

    /// `scimd serve` through `command`: the binary itself, or a wrapper that execs it with the
    /// arguments that follow.
    fn spawn(mut command: Command, database: &str, env: &[(&str, &str)]) -> Server {
        let mut child = command
            .args(["--database", database, "--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .env_remove("SCIMD_BASE_URL")
            .env_remove("SCIMD_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn scimd serve");
        let out = lines(child.stdout.take().unwrap());
        let err = lines(child.stderr.take().unwrap());
        Server { child, out, err, log: Vec::new() }
    }

    fn stdout_line(&self) -> String {
        self.out.recv_timeout(PATIENCE).expect("a line on stdout")
    }

    /// The first log line (JSON) whose message is `message`.
    fn log_event(&mut self, message: &str) -> Value {
        loop {
            let line = self
                .err
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no {message:?} log line in {:#?}", self.log));
            self.log.push(line.clone());
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["fields"]["message"] == message
            {
                return v;
            }
        }
    }

    /// The listening address, from the log.
    fn addr(&mut self) -> String {
        self.log_event("scimd listening")["fields"]["addr"].as_str().unwrap().to_owned()
    }

    /// SIGKILL: no chance to flush or checkpoint anything.
    fn kill_9(mut self) {
        let status = Command::new("kill").args(["-KILL", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -KILL failed");
        let _ = self.child.wait();
    }

    /// SIGTERM, then the exit status and the rest of the log.
    fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        let exit = self.child.wait().unwrap();
        self.log.extend(self.err.iter());
        (exit, self.log, self.out.iter().collect())
    }
}

fn lines(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

#[test]
fn migrate_and_tenant_create() {
    let dir = tempfile::tempdir().unwrap();
    let o = scimd(dir.path(), &["migrate"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "migrate prints nothing on stdout");
    assert!(dir.path().join("scimd.db").exists());
    // A fresh database: it says what it applied, not "up to date".
    assert!(stderr(&o).contains("applied") && !stderr(&o).contains("up to date"), "{}", stderr(&o));
    // Twice is fine, and then there is nothing to apply.
    let o = scimd(dir.path(), &["migrate"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("up to date"), "{}", stderr(&o));

    let o = scimd(dir.path(), &["tenant", "create", "acme"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "acme\n");

    let o = scimd(dir.path(), &["tenant", "create", "acme"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    let o = scimd(dir.path(), &["tenant", "create", "Not A Slug"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("slug"), "{}", stderr(&o));
}

#[test]
fn token_create_validates_its_input() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());

    let o = scimd(dir.path(), &["token", "create", "--tenant", "acme", "--scope", "users:write"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.contains("users:write") && err.contains("users:update"),
        "names the bad scope and the good ones: {err}"
    );

    let o = scimd(dir.path(), &["token", "create", "--tenant", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("scimd tenant create nope"), "{}", stderr(&o));

    let o = scimd(dir.path(), &["token", "create", "--tenant", "acme", "--expires-in", "soon"]);
    assert_eq!(o.status.code(), Some(2), "a malformed flag is a usage error");

    // A name is shown in listings and logs: bounded, no control characters, not blank.
    for name in ["x".repeat(201), "a\u{1b}[31mb".to_owned(), "   ".to_owned()] {
        let o = scimd(dir.path(), &["token", "create", "--tenant", "acme", "--name", &name]);
        assert_eq!(o.status.code(), Some(1), "{name:?}");
        assert_eq!(stdout(&o), "", "no token printed for {name:?}");
        assert!(stderr(&o).contains("token name"), "{}", stderr(&o));
    }
    let o = scimd(dir.path(), &["token", "create", "--tenant", "acme", "--name", &"x".repeat(200)]);
    assert!(o.status.success(), "200 characters are allowed: {}", stderr(&o));

    let o = Command::new(BIN).args(["--database", "mysql://localhost/scimd", "migrate"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "an unknown scheme is refused");
    assert!(stderr(&o).contains("postgres://"), "{}", stderr(&o));
}

#[tokio::test]
async fn serve_bootstraps_an_empty_database_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());

    let first = server.stdout_line();
    assert!(first.contains("default") && first.contains("shown only this once"), "{first}");
    let url = server.stdout_line();
    let url = url.strip_prefix("SCIM URL: ").unwrap_or_else(|| panic!("{url}")).to_owned();
    let token = server.stdout_line();
    let token = token.strip_prefix("Token: ").unwrap_or_else(|| panic!("{token}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/scim/v2"), "{url}");
    assert!(token.starts_with("scimd_"), "{token}");

    let base = url.trim_end_matches("/scim/v2");
    let c = client();
    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok");
    let r = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // The bootstrap token works and carries every SCIM scope.
    let r = c
        .get(format!("{url}/Users"))
        .bearer_auth(&token)
        .header("x-request-id", "cli-test-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = c.get(format!("{url}/Users")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let (exit, log, rest) = server.terminate();
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}\n{log:#?}");
    assert!(rest.is_empty(), "nothing more on stdout: {rest:?}");
    // Every log line of the request carries its id.
    let request_lines: Vec<&String> = log.iter().filter(|l| l.contains("/scim/v2/Users")).collect();
    assert!(!request_lines.is_empty(), "{log:#?}");
    assert!(log.iter().any(|l| l.contains("\"request_id\":\"cli-test-1\"")), "{log:#?}");
    assert!(log.iter().any(|l| l.contains("scimd stopped")), "{log:#?}");

    // A second start on the same database prints no new token.
    let mut again = Server::start(dir.path());
    let addr = again.addr();
    let r = client().get(format!("http://{addr}/scim/v2/Users")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200, "the bootstrap token survives a restart");
    let (exit, _, out) = again.terminate();
    assert!(exit.success());
    assert!(out.is_empty(), "no bootstrap output on a second start: {out:?}");
}

#[tokio::test]
async fn a_created_token_works_with_its_scopes() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let o = scimd(
        dir.path(),
        &[
            "token",
            "create",
            "--tenant",
            "acme",
            "--scope",
            "get:users",
            "--expires-in",
            "90d",
            "--name",
            "entra",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one line: {out:?}");
    assert!(out.ends_with('\n'));
    let token = out.trim_end().to_owned();
    assert!(token.starts_with("scimd_") && token.len() == "scimd_".len() + 43, "{token}");

    // The database has tenant acme already, so serve prints nothing and creates no `default`.
    let mut server = Server::start(dir.path());
    let addr = server.addr();
    let c = client();
    let users = format!("http://{addr}/tenants/acme/scim/v2/Users");
    let r = c.get(&users).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(&users)
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "get:users does not allow creating users");
    let body: Value = r.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("users:create"), "{body}");
    let r = c
        .get(format!("http://{addr}/tenants/default/scim/v2/Users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    let (exit, log, out) = server.terminate();
    assert!(exit.success(), "{log:#?}");
    assert!(out.is_empty(), "{out:?}");
}

/// The binary's listener and Host check, as the flags set them: `--allowed-host` (here through
/// its environment variable) adds a name, another name is 421, and a connection that sends no
/// request head is closed after `--header-read-timeout`.
#[tokio::test]
async fn serve_answers_its_hosts_and_closes_silent_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_on(
        &db_url(dir.path()),
        &[("SCIMD_ALLOWED_HOSTS", "scim.internal,other.internal"), ("SCIMD_HEADER_READ_TIMEOUT", "1s")],
    );
    let addr = server.addr();
    let c = client();
    let metadata = format!("http://{addr}/.well-known/oauth-authorization-server");
    for (host, status) in
        [("scim.internal", 200), ("other.internal:8443", 200), (addr.as_str(), 200), ("evil.example", 421)]
    {
        let r = c.get(&metadata).header("host", host).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{host}");
        let body: Value = r.json().await.unwrap();
        if status == 200 {
            assert_eq!(body["issuer"], format!("http://{host}"), "{host}");
        } else {
            assert_eq!(body["status"], "421", "{body}");
        }
    }
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let closed = scimd_testkit::closed_by_server(&mut silent, Duration::from_secs(30)).await;
    assert!(closed, "a silent connection outlived a 1 s header read timeout by 30 s");
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}

/// The README's "Using it" walkthrough, run as written by bash against a running server (only the
/// address differs: the server listens on a free port). It needs curl and jq, as the README says.
#[tokio::test]
async fn the_readme_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let section = readme.split_once("## Using it").expect("a Using it section").1;
    let script = section.split_once("```sh\n").unwrap().1.split_once("```").unwrap().0;
    assert!(script.contains("scimd token create") && script.contains("PATCH"), "{script}");

    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let addr = server.addr();
    let script = script.replace("http://127.0.0.1:8080", &format!("http://{addr}"));
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let o = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &format!("{script}\necho\necho \"ID=$ID\"")])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SCIMD_DATABASE_URL", db_url(dir.path()))
        .env_remove("SCIMD_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    let id = out.lines().last().unwrap().trim_start_matches("ID=").to_owned();
    assert_eq!(id.len(), 36, "the POST answered a user with an id: {out}");
    assert!(out.contains("\"totalResults\":1"), "the filter found the user: {out}");

    // The last step deactivated that user: read it back with a token of its own.
    let token = scimd(dir.path(), &["token", "create", "--tenant", "acme", "--scope", "users:read"]);
    let token = stdout(&token).trim().to_owned();
    let user: Value = client()
        .get(format!("http://{addr}/tenants/acme/scim/v2/Users/{id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["userName"], "bjensen@example.com", "{user}");
    assert_eq!(user["active"], false, "{user}");
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}

#[tokio::test]
async fn an_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    server.stdout_line();
    let url = server.stdout_line().trim_start_matches("SCIM URL: ").to_owned();
    let token = server.stdout_line().trim_start_matches("Token: ").to_owned();
    let c = client();
    let r = c
        .post(format!("{url}/Users"))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    server.kill_9();

    let mut again = Server::start(dir.path());
    let addr = again.addr();
    let r = c.get(format!("http://{addr}/scim/v2/Users/{id}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200, "the user acknowledged with 201 is still there");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["userName"], "bjensen");
    let (exit, _, _) = again.terminate();
    assert!(exit.success());
}

mod replicas;

/// `scimd token list | head -0`: the reader is gone before the first line is written. The command
/// ends with success instead of panicking on the closed pipe.
#[test]
fn a_closed_stdout_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    assert!(scimd(dir.path(), &["token", "create", "--tenant", "acme"]).status.success());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(BIN)
        .args(["--database", &db_url(dir.path()), "token", "list", "--tenant", "acme"])
        .env_remove("SCIMD_DATABASE_URL")
        .env_remove("SCIMD_CONFIG")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Out-of-range durations are `error: …` with exit status 1, never a panic (exit 101); `tenant
/// show` prints the rate limit in effect; `logs --help` names its default once.
#[test]
fn huge_durations_are_errors_and_tenant_show_prints_the_effective_rate() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    for args in [
        &["token", "create", "--tenant", "acme", "--expires-in", "99999999999w"][..],
        &["logs", "--tenant", "acme", "--since", "99999999999d"][..],
    ] {
        let o = scimd(dir.path(), args);
        assert_eq!(o.status.code(), Some(if args[0] == "token" { 2 } else { 1 }), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("at most"), "{args:?}: {}", stderr(&o));
    }
    let o = scimd(dir.path(), &["tenant", "show", "acme"]);
    let shown: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (shown["rate_limit"].as_u64(), shown["rate_limit_default"].as_bool()),
        (Some(1000), Some(true))
    );
    let help = stdout(&scimd(dir.path(), &["logs", "--help"]));
    assert_eq!(help.matches("[default: 100]").count(), 1, "{help}");
}
