//! `scimd webhook …` and `scimd sink …` against the real binary: the lifecycle of an endpoint
//! (add, list, rotate, test, deliveries, replay, delete) and the refusals, each checked on stdout,
//! stderr and the exit status. Nothing delivers here (no server runs), so what the commands queue
//! stays pending; a dead letter is made through the store, as the worker would record one.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use scimd_store::delivery::{DeliveryStore as _, Outcome};
use scimd_store::{Clock, SystemClock};

use super::{db_url, scimd, stderr, stdout};

/// Runs a command that must succeed; its stdout as JSON lines.
fn ok(dir: &Path, args: &[&str]) -> Vec<Value> {
    let o = scimd(dir, args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect()
}

/// Runs a command that must fail with status 1 and nothing on stdout; its stderr.
fn refused(dir: &Path, args: &[&str]) -> String {
    let o = scimd(dir, args);
    assert_eq!(o.status.code(), Some(1), "{args:?} should fail: {} {}", stdout(&o), stderr(&o));
    assert_eq!(stdout(&o), "", "{args:?}");
    stderr(&o)
}

fn one(dir: &Path, args: &[&str]) -> Value {
    let mut lines = ok(dir, args);
    assert_eq!(lines.len(), 1, "{args:?}: {lines:?}");
    lines.remove(0)
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))
}

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for slug in ["acme", "beta"] {
        assert!(scimd(dir.path(), &["tenant", "create", slug]).status.success());
    }
    dir
}

/// Dead-letters every pending delivery, as the worker does after the last retry.
fn dead_letter_everything(dir: &Path) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = scimd_store_sqlite::SqliteStore::open(&db_url(dir), clock.clone()).await.unwrap();
        let claimed = store.claim(clock.now(), time::Duration::minutes(1), 100).await.unwrap();
        for c in &claimed {
            let dead = Outcome::Dead { status: Some(500), error: "HTTP 500".into() };
            store.complete(c.id, clock.now(), dead, time::Duration::days(5)).await.unwrap();
        }
        store.close().await;
        claimed.len()
    })
}

#[test]
fn a_webhook_from_add_to_delete() {
    let dir = setup();
    let d = dir.path();
    let o = scimd(
        d,
        &[
            "webhook",
            "add",
            "--tenant",
            "acme",
            "--url",
            "https://Hooks.Example.com/scim",
            "--type",
            "user.*",
            "--type",
            "group.member_added,user.*",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("not shown again"), "{}", stderr(&o));
    let added: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let id = str_of(&added, "id").to_owned();
    let secret = str_of(&added, "secret").to_owned();
    assert!(secret.starts_with("whsec_"), "{added}");
    assert_eq!(added["url"], "https://hooks.example.com/scim", "normalised");
    assert_eq!(added["types"], serde_json::json!(["user.*", "group.member_added"]), "duplicates dropped");
    assert_eq!(
        (&added["format"], &added["audience"], &added["enabled"]),
        (&"standard".into(), &Value::Null, &true.into())
    );

    // Listed without its secret; only webhooks are webhook list's, only sinks sink list's.
    let o = scimd(d, &["webhook", "list", "--tenant", "acme"]);
    assert!(o.status.success());
    assert!(!stdout(&o).contains("whsec_") && !stdout(&o).contains("secret\""), "{}", stdout(&o));
    let listed = one(d, &["webhook", "list", "--tenant", "acme"]);
    assert_eq!(listed["id"], id.as_str());
    assert_eq!((&listed["pending"], &listed["dead"], &listed["cursor"]), (&0.into(), &0.into(), &"0".into()));
    assert_eq!(listed["disabled_reason"], Value::Null);
    assert!(ok(d, &["sink", "list", "--tenant", "acme"]).is_empty());
    assert!(ok(d, &["webhook", "list", "--tenant", "beta"]).is_empty(), "another tenant's");

    // Rotation: a new secret, the old one valid for the grace, neither ever listed.
    let rotated = one(d, &["webhook", "rotate", "--tenant", "acme", "--id", &id, "--grace", "1h"]);
    let new_secret = str_of(&rotated, "secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret, "{rotated}");
    let until = time::OffsetDateTime::parse(
        str_of(&rotated, "previous_valid_until"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let from_now = until - SystemClock.now();
    assert!(from_now > time::Duration::minutes(55) && from_now <= time::Duration::hours(1), "{from_now}");
    let o = scimd(d, &["webhook", "list", "--tenant", "acme"]);
    assert!(!stdout(&o).contains("whsec_"), "{}", stdout(&o));
    let listed = one(d, &["webhook", "list", "--tenant", "acme"]);
    assert_eq!(listed["previous_valid_until"], rotated["previous_valid_until"]);

    // A ping is queued, and pending until a server delivers it.
    let ping = one(d, &["webhook", "test", "--tenant", "acme", "--id", &id]);
    let delivery = str_of(&ping, "delivery").to_owned();
    let event_id = str_of(&ping, "event_id").to_owned();
    assert_ne!(delivery, event_id);
    let shown = one(d, &["webhook", "deliveries", "--tenant", "acme", "--id", &id]);
    assert_eq!(shown["id"], delivery.as_str());
    assert_eq!(shown["event_id"], event_id.as_str());
    assert_eq!(
        (&shown["state"], &shown["ping"], &shown["seq"]),
        (&"pending".into(), &true.into(), &"0".into())
    );
    assert!(shown["next_attempt_at"].is_string());
    assert!(ok(d, &["webhook", "deliveries", "--tenant", "acme", "--id", &id, "--state", "dead"]).is_empty());
    assert_eq!(one(d, &["webhook", "list", "--tenant", "acme"])["pending"], 1);

    // Nothing dead yet; then the ping is dead-lettered, and replayed.
    assert_eq!(
        one(d, &["webhook", "replay", "--tenant", "acme", "--id", &id, "--dead-letters"])["queued"],
        0
    );
    assert_eq!(dead_letter_everything(d), 1);
    let dead = one(d, &["webhook", "deliveries", "--tenant", "acme", "--id", &id, "--state", "dead"]);
    assert_eq!(
        (&dead["id"], &dead["last_status"], &dead["next_attempt_at"]),
        (&delivery.as_str().into(), &500.into(), &Value::Null)
    );
    assert_eq!(one(d, &["webhook", "list", "--tenant", "acme"])["dead"], 1);
    assert_eq!(
        one(d, &["webhook", "replay", "--tenant", "acme", "--id", &id, "--dead-letters"])["queued"],
        1
    );
    let again = one(d, &["webhook", "deliveries", "--tenant", "acme", "--id", &id, "--state", "pending"]);
    assert_eq!((&again["id"], &again["attempts"]), (&delivery.as_str().into(), &0.into()));
    // Replays of the (empty) log queue nothing, and say so.
    assert_eq!(one(d, &["webhook", "replay", "--tenant", "acme", "--id", &id, "--from", "1"])["queued"], 0);
    let since = ["webhook", "replay", "--tenant", "acme", "--id", &id, "--since", "2020-01-01T00:00:00Z"];
    assert_eq!(one(d, &since)["queued"], 0);

    // Disable and enable print the endpoint.
    let off = one(d, &["webhook", "disable", "--tenant", "acme", "--id", &id]);
    assert_eq!(off["enabled"], false);
    let o = scimd(d, &["webhook", "test", "--tenant", "acme", "--id", &id]);
    assert!(o.status.success() && stderr(&o).contains("disabled"), "{}", stderr(&o));
    assert_eq!(one(d, &["webhook", "enable", "--tenant", "acme", "--id", &id])["enabled"], true);

    // Delete takes the deliveries with it.
    let o = scimd(d, &["webhook", "delete", "--tenant", "acme", "--id", &id]);
    assert!(o.status.success() && stdout(&o).is_empty(), "{}", stderr(&o));
    assert!(stderr(&o).contains("deleted"), "{}", stderr(&o));
    assert!(ok(d, &["webhook", "list", "--tenant", "acme"]).is_empty());
    let e = refused(d, &["webhook", "deliveries", "--tenant", "acme", "--id", &id]);
    assert!(e.contains("no webhook") && e.contains(&id), "{e}");
}

#[test]
fn webhook_refusals() {
    let dir = setup();
    let d = dir.path();
    let add = |url: &str, extra: &[&str]| {
        let mut args = vec!["webhook", "add", "--tenant", "acme", "--url", url];
        args.extend_from_slice(extra);
        refused(d, &args)
    };
    for (url, needle) in [
        ("hooks.example.com/scim", "not an absolute URL"),
        ("ftp://hooks.example.com/", "http or https"),
        ("https://hooks.example.com/scim#top", "fragment"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
    ] {
        let e = add(url, &[]);
        assert!(e.contains(needle), "{url}: {e}");
    }
    let e = add("https://bob:hunter2@hooks.example.com/", &[]);
    assert!(e.contains("credentials") && !e.contains("hunter2"), "{e}");
    // Private targets: refused with the way out named, accepted with --allow-private…
    let e = add("http://127.0.0.1:3000/hooks", &[]);
    assert!(e.contains("loopback") && e.contains("--allow-private"), "{e}");
    let local = one(
        d,
        &["webhook", "add", "--tenant", "acme", "--url", "http://127.0.0.1:3000/hooks", "--allow-private"],
    );
    assert_eq!(local["url"], "http://127.0.0.1:3000/hooks");
    // …but never a link-local address.
    let e = add("http://169.254.10.1/", &["--allow-private"]);
    assert!(e.contains("link-local"), "{e}");

    let e = add("https://hooks.example.com/", &["--type", "user.nope"]);
    assert!(e.contains("user.nope") && e.contains("user.deactivated") && e.contains("group.*"), "{e}");
    let e = add("https://hooks.example.com/", &["--audience", "app"]);
    assert!(e.contains("aud") && e.contains("set"), "{e}");
    let set = one(
        d,
        &[
            "webhook",
            "add",
            "--tenant",
            "acme",
            "--url",
            "https://h.example/",
            "--format",
            "set",
            "--audience",
            "app",
        ],
    );
    assert_eq!((&set["format"], &set["audience"]), (&"set".into(), &"app".into()));
    let e = refused(d, &["webhook", "add", "--tenant", "nope", "--url", "https://h.example/"]);
    assert!(e.contains("no tenant"), "{e}");

    // Unknown ids: malformed, random, another tenant's, and a sink's under `webhook`.
    let theirs =
        str_of(&one(d, &["webhook", "add", "--tenant", "beta", "--url", "https://h.example/b"]), "id")
            .to_owned();
    let sink =
        str_of(&one(d, &["sink", "add", "--tenant", "acme", "--nats", "nats://nats:4222"]), "id").to_owned();
    for id in ["not-an-id", "01937f6e-0000-7000-8000-000000000001", theirs.as_str(), sink.as_str()] {
        for cmd in ["delete", "enable", "disable", "test", "rotate", "deliveries"] {
            let e = refused(d, &["webhook", cmd, "--tenant", "acme", "--id", id]);
            assert!(e.contains("no webhook") && e.contains("webhook list --tenant acme"), "{cmd} {id}: {e}");
        }
        let e = refused(d, &["webhook", "replay", "--tenant", "acme", "--id", id, "--dead-letters"]);
        assert!(e.contains("no webhook"), "{e}");
    }
    assert_eq!(ok(d, &["webhook", "list", "--tenant", "beta"]).len(), 1, "beta's webhook is untouched");

    // Malformed command lines are clap's (status 2).
    for args in [
        &["webhook", "rotate", "--tenant", "acme", "--id", &theirs, "--grace", "31d"][..],
        &["webhook", "replay", "--tenant", "acme", "--id", &theirs][..],
        &["webhook", "replay", "--tenant", "acme", "--id", &theirs, "--from", "1", "--dead-letters"][..],
        &["webhook", "deliveries", "--tenant", "acme", "--id", &theirs, "--state", "failed"][..],
        &["webhook", "deliveries", "--tenant", "acme", "--id", &theirs, "--limit", "0"][..],
        &["webhook", "add", "--tenant", "acme", "--url", "https://h.example/", "--format", "xml"][..],
    ] {
        assert_eq!(scimd(d, args).status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_nats_sink() {
    let dir = setup();
    let d = dir.path();
    let added = one(
        d,
        &[
            "sink",
            "add",
            "--tenant",
            "acme",
            "--nats",
            "nats://nats.internal:4222",
            "--subject",
            "scim.{tenant}.{type}",
            "--type",
            "user.deactivated",
        ],
    );
    let id = str_of(&added, "id").to_owned();
    assert_eq!((&added["kind"], &added["subject"]), (&"sink".into(), &"scim.{tenant}.{type}".into()));
    assert!(added.get("secret").is_none(), "a sink has no signing secret: {added}");
    let listed = one(d, &["sink", "list", "--tenant", "acme"]);
    assert_eq!(
        (&listed["id"], &listed["types"]),
        (&id.as_str().into(), &serde_json::json!(["user.deactivated"]))
    );
    assert!(ok(d, &["webhook", "list", "--tenant", "acme"]).is_empty());
    let default = one(d, &["sink", "add", "--tenant", "acme", "--nats", "nats://n:4222"]);
    assert_eq!(default["subject"], "scimd.{tenant}.{type}");

    assert_eq!(one(d, &["sink", "disable", "--tenant", "acme", "--id", &id])["enabled"], false);
    assert_eq!(one(d, &["sink", "enable", "--tenant", "acme", "--id", &id])["enabled"], true);
    assert!(ok(d, &["sink", "deliveries", "--tenant", "acme", "--id", &id]).is_empty());
    assert_eq!(one(d, &["sink", "replay", "--tenant", "acme", "--id", &id, "--from", "0"])["queued"], 0);
    // A webhook-only command does not exist for sinks, and `webhook` does not see sinks.
    assert_eq!(scimd(d, &["sink", "rotate", "--tenant", "acme", "--id", &id]).status.code(), Some(2));
    assert!(refused(d, &["webhook", "rotate", "--tenant", "acme", "--id", &id]).contains("no webhook"));

    for (args, needle) in [
        (&["--nats", "http://nats:4222"][..], "scheme"),
        (&["--nats", "nats://user:pw@nats:4222"][..], "credentials"),
        (&["--nats", "nats://nats:4222", "--subject", "scimd.*"][..], "wildcard"),
        (&["--nats", "nats://nats:4222", "--subject", "scimd..x"][..], "single dots"),
        (&["--nats", "nats://nats:4222", "--subject", "scimd.{slug}"][..], "placeholders"),
        (&["--nats", "nats://nats:4222", "--type", "group"][..], "group"),
    ] {
        let mut all = vec!["sink", "add", "--tenant", "acme"];
        all.extend_from_slice(args);
        let e = refused(d, &all);
        assert!(e.contains(needle), "{args:?}: {e}");
    }

    let o = scimd(d, &["sink", "delete", "--tenant", "acme", "--id", &id]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(refused(d, &["sink", "delete", "--tenant", "acme", "--id", &id]).contains("no sink"));
    assert_eq!(ok(d, &["sink", "list", "--tenant", "acme"]).len(), 1);
}
