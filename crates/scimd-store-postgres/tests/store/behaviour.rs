//! Store-level behaviour that the HTTP suite cannot see directly: what replicas rely on.

use std::sync::Arc;

use serde_json::json;

use scimd_schema::ResourceSchema;

use scimd_store::{
    NewResource, ResourceKind, ResourceStore, Store as _, StoreError, TenantStore, Update, UpdateOperation,
    WriteContext, search_document,
};
use scimd_store_postgres::{PgOptions, PgStore};

fn user(name: &str) -> NewResource {
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name});
    let search = search_document(&ResourceSchema::user(), &doc);
    NewResource { kind: ResourceKind::User, doc, search, members: Vec::new(), password_hash: None }
}

fn group(name: &str, members: Vec<String>) -> NewResource {
    let doc = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name});
    let search = search_document(&ResourceSchema::group(), &doc);
    NewResource { kind: ResourceKind::Group, doc, search, members, password_hash: None }
}

/// Two stores (two pools, as two replicas have) on one database: adds from both, interleaved with
/// deletes of some of the members being added, lose no add and leave no dangling row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_add_members_while_members_are_deleted() {
    let Some((db, one, clock)) = super::store("two_pools_add_members_while_members_are_deleted").await else {
        return;
    };
    let two = PgStore::open(&db.url, &PgOptions::default(), Arc::new(clock.clone())).unwrap();
    let tenant = one.create_tenant("acme").await.unwrap();
    let ctx = WriteContext {
        tenant: tenant.id,
        actor: "test".into(),
        tenant_slug: "test".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    };
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(one.create(&ctx, user(&format!("u{i}"))).await.unwrap().0.id);
    }
    let (g, _) = one.create(&ctx, group("all", vec![])).await.unwrap();
    let stores = [Arc::new(one), Arc::new(two)];
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.iter().enumerate() {
        let (s, task_ctx, gid, member) = (stores[i % 2].clone(), ctx.clone(), g.id.clone(), id.clone());
        tasks.spawn(async move {
            let add = Update {
                operation: UpdateOperation::Patch,
                expected_version: None,
                before: None,
                doc: None,
                members: vec![scimd_store::plan::MemberOp::Add(vec![member])],
                password_hash: None,
            };
            s.update(&task_ctx, ResourceKind::Group, &gid, add).await.map(|u| u.report)
        });
        if i % 3 == 0 {
            // Every third user is deleted through the other pool while its add is in flight.
            let (s, ctx, id) = (stores[(i + 1) % 2].clone(), ctx.clone(), id.clone());
            tasks.spawn(async move {
                s.delete(&ctx, ResourceKind::User, &id, None).await.map(|()| Default::default())
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    let read = stores[0].get(tenant.id, ResourceKind::Group, &g.id, true).await.unwrap().unwrap();
    let members: std::collections::BTreeSet<String> =
        read.members.unwrap().into_iter().map(|m| m.id).collect();
    let survivors: std::collections::BTreeSet<String> =
        ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, id)| id.clone()).collect();
    assert_eq!(members, survivors, "every surviving user is a member; no deleted user is");
}

#[tokio::test]
async fn conditional_writes_and_conflicts() {
    let Some((_db, s, _clock)) = super::store("conditional_writes_and_conflicts").await else { return };
    let tenant = s.create_tenant("acme").await.unwrap();
    assert!(matches!(s.create_tenant("acme").await, Err(StoreError::Conflict(c)) if c == "slug"));
    let ctx = WriteContext {
        tenant: tenant.id,
        actor: "test".into(),
        tenant_slug: "test".into(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    };
    let (u, _) = s.create(&ctx, user("carol")).await.unwrap();
    let err = s.create(&ctx, user("CAROL")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(ref a) if a == "userName"), "{err:?}");

    let mut doc = u.doc.clone();
    doc["userName"] = json!("carol2");
    let search = search_document(&ResourceSchema::user(), &doc);
    let rename = Update {
        operation: UpdateOperation::Patch,
        expected_version: Some(1),
        before: None,
        doc: Some((doc, search)),
        members: vec![],
        password_hash: None,
    };
    let after = s.update(&ctx, ResourceKind::User, &u.id, rename.clone()).await.unwrap();
    assert_eq!(after.version, 2);
    assert!(matches!(
        s.update(&ctx, ResourceKind::User, &u.id, rename).await,
        Err(StoreError::VersionMismatch)
    ));
    assert!(matches!(
        s.delete(&ctx, ResourceKind::User, &u.id, Some(1)).await,
        Err(StoreError::VersionMismatch)
    ));
    assert!(matches!(s.delete(&ctx, ResourceKind::User, "nope", Some(1)).await, Err(StoreError::NotFound)));
    s.delete(&ctx, ResourceKind::User, &u.id, Some(2)).await.unwrap();
    assert!(s.get(tenant.id, ResourceKind::User, &u.id, false).await.unwrap().is_none());
    let audit: i64 = sqlx::query_scalar("SELECT count(*) FROM audit").fetch_one(s.pool()).await.unwrap();
    assert_eq!(audit, 3, "create, update, delete");
    // PATCH is audited as `patch` (migration 0001's documented values), never `update`.
    let ops: Vec<String> = sqlx::query_scalar("SELECT operation FROM audit ORDER BY at, operation")
        .fetch_all(s.pool())
        .await
        .unwrap();
    assert!(ops.contains(&"patch".to_owned()) && !ops.contains(&"update".to_owned()), "{ops:?}");
}

/// A store whose pool is closed, or whose database is gone, answers Unavailable (→ 503).
#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    if !scimd_testkit::pg::available_or_skip("an_unreachable_database_is_unavailable") {
        return;
    }
    // A database of its own: it is taken away from every session, which a schema cannot be.
    let db = scimd_testkit::pg::TestDatabase::create_database().await;
    let s = PgStore::open(&db.url, &PgOptions::default(), Arc::new(scimd_store::SystemClock)).unwrap();
    s.migrate().await.unwrap();
    s.ping().await.unwrap();
    let short = PgOptions { acquire_timeout: std::time::Duration::from_secs(1), ..PgOptions::default() };
    let other = PgStore::open(&db.url, &short, Arc::new(scimd_store::SystemClock)).unwrap();
    other.ping().await.unwrap();
    db.admin_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", db.name)).await;
    db.terminate_connections().await;
    assert!(matches!(other.ping().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(other.tenant_count().await, Err(StoreError::Unavailable(_))));
    db.admin_execute(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", db.name)).await;
    other.ping().await.unwrap();
    s.close().await;
    assert!(matches!(s.ping().await, Err(StoreError::Unavailable(_))));
}

/// `statement_timeout` applies to every session: a statement that runs longer is cancelled (503).
#[tokio::test]
async fn the_statement_timeout_applies() {
    let Some((db, _s, _clock)) = super::store("the_statement_timeout_applies").await else { return };
    let options =
        PgOptions { statement_timeout: std::time::Duration::from_millis(50), ..PgOptions::default() };
    let s = PgStore::open(&db.url, &options, Arc::new(scimd_store::SystemClock)).unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(s.pool()).await.unwrap();
    assert_eq!(shown, "50ms");
    let err = sqlx::query("SELECT pg_sleep(5)").execute(s.pool()).await.unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("57014"), "{err}");
}

/// Codes and refresh tokens are single-use across replicas. Many redemptions of one code
/// and one refresh token, at once, through two pools: exactly one is the first, the rest replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_use_secrets_are_spent_once_across_pools() {
    use scimd_store::OAuthStore;
    use scimd_store::oauth::{Consumed, GrantType, NewClient, NewCode, NewGrant, NewRefreshToken};

    let Some((db, one, clock)) = super::store("single_use_secrets_are_spent_once_across_pools").await else {
        return;
    };
    let two = PgStore::open(&db.url, &PgOptions::default(), Arc::new(clock.clone())).unwrap();
    let tenant = one.create_tenant("acme").await.unwrap();
    one.create_client(NewClient {
        tenant: tenant.id,
        client_id: "okta".into(),
        name: "Okta".into(),
        grant: GrantType::AuthorizationCode,
        secret_digest: Some([7; 32]),
        redirect_uris: vec!["https://example.com/cb".into()],
        scopes: vec!["users:read".into()],
    })
    .await
    .unwrap();
    let grant = one
        .create_grant(NewGrant {
            tenant: tenant.id,
            client_id: "okta".into(),
            admin: None,
            scopes: vec!["users:read".into()],
        })
        .await
        .unwrap();
    let expires = time::macros::datetime!(2030-01-01 0:00 UTC);
    one.create_code(NewCode {
        digest: [1; 32],
        grant: grant.id,
        redirect_uri: None,
        code_challenge: None,
        expires,
    })
    .await
    .unwrap();
    one.create_refresh_token(NewRefreshToken { digest: [2; 32], grant: grant.id, expires }).await.unwrap();

    let stores = [Arc::new(one), Arc::new(two)];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let s = stores[i % 2].clone();
        tasks.spawn(async move {
            let code = match s.consume_code(&[1; 32]).await.unwrap() {
                Consumed::First(_) => "first",
                Consumed::Reused(_) => "reused",
                Consumed::Unknown => "unknown",
            };
            let refresh = match s.consume_refresh_token(&[2; 32]).await.unwrap() {
                Consumed::First(_) => "first",
                Consumed::Reused(_) => "reused",
                Consumed::Unknown => "unknown",
            };
            (code, refresh)
        });
    }
    let (mut codes, mut refreshes) = (Vec::new(), Vec::new());
    while let Some(done) = tasks.join_next().await {
        let (c, r) = done.unwrap();
        codes.push(c);
        refreshes.push(r);
    }
    for outcomes in [&codes, &refreshes] {
        assert_eq!(outcomes.iter().filter(|o| **o == "first").count(), 1, "{outcomes:?}");
        assert_eq!(outcomes.iter().filter(|o| **o == "reused").count(), 15, "{outcomes:?}");
    }
    assert!(matches!(stores[0].consume_code(&[9; 32]).await.unwrap(), Consumed::Unknown));
}
