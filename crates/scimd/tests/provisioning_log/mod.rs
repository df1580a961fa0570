//! `scimd logs` reading what `scimd serve` recorded (the provisioning log, docs/operations.md).

use std::time::Duration;

use serde_json::Value;

use super::{Server, client, scimd, stderr, stdout};

#[tokio::test]
async fn logs_show_what_serve_recorded() {
    let dir = tempfile::tempdir().unwrap();
    assert!(scimd(dir.path(), &["tenant", "create", "acme"]).status.success());
    let token = stdout(&scimd(dir.path(), &["token", "create", "--tenant", "acme", "--name", "entra"]))
        .trim()
        .to_owned();
    let mut server = Server::start(dir.path());
    let base = format!("http://{}/tenants/acme/scim/v2", server.addr());
    let c = client();
    let user = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen","password":"hunter2-secret"}"#;
    for expected in [201, 409] {
        let r = c
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(user)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
    // The log is written in the background; read it until both records are there.
    let mut lines = Vec::new();
    for _ in 0..100 {
        let o = scimd(dir.path(), &["logs", "--tenant", "acme"]);
        assert!(o.status.success(), "{}", stderr(&o));
        lines = stdout(&o).lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
        if lines.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["status"], 201, "oldest first");
    assert_eq!(lines[1]["scim_type"], "uniqueness");
    assert_eq!(lines[0]["credential_name"], "entra");
    assert!(!lines[0]["request_body"].as_str().unwrap().contains("hunter2"));
    let o = scimd(dir.path(), &["logs", "--tenant", "acme", "--status", "4xx"]);
    assert_eq!(stdout(&o).lines().count(), 1);
    let o = scimd(dir.path(), &["logs", "--tenant", "acme", "--since", "soon"]);
    assert!(!o.status.success());
    let (exit, log, _) = server.terminate();
    assert!(exit.success(), "{log:#?}");
}
