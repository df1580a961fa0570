//! `EXPLAIN` of the `eq` filters identity providers match with (userName, externalId,
//! emails.value, displayName) uses an index at 100,000 users; so do `sw` and `pr` on the hot
//! attributes and, with pg_trgm, `co`.

use serde_json::Value;
use sqlx::Row as _;

use scimd_schema::ResourceSchema;
use scimd_store::sql::{Bind, Dialect, SqlBuilder, compile_filter};
use scimd_store::{ListQuery, Paging, ResourceKind, ResourceStore as _, SortOrder, TenantStore as _};

const USERS: i64 = 100_000;
const GROUPS: i64 = 2_000;

/// Every node of a JSON plan, depth first.
fn nodes(plan: &Value, out: &mut Vec<Value>) {
    out.push(plan.clone());
    for child in plan["Plans"].as_array().into_iter().flatten() {
        nodes(child, out);
    }
}

#[tokio::test]
async fn hot_filters_use_indexes_at_100k_users() {
    let Some((_db, store, _clock)) = super::store("hot_filters_use_indexes_at_100k_users").await else {
        return;
    };
    let tenant = store.create_tenant("explain").await.unwrap();
    let other = store.create_tenant("other").await.unwrap();
    let pool = store.pool();

    // Seeded in bulk by SQL in the shape the store writes (folded keys, search copy, value rows),
    // for two tenants, so the tenant column alone does not make the index attractive.
    for (t, n) in [(&tenant, USERS), (&other, USERS / 10)] {
        sqlx::query(
            "INSERT INTO resources (tenant_id, id, kind, version, created, last_modified, name_key, \
             display_name_key, display_name, user_name, external_id, active, doc, search) \
             SELECT $1, '0190f5a0-0000-7000-8000-' || lpad(i::text, 12, '0'), 'User', 1, \
                    '2026-11-23T07:46:00.000Z', '2026-11-23T07:46:00.000Z', 'user' || i, \
                    'person ' || i, 'Person ' || i, 'User' || i, 'ext-' || i, i % 3 <> 0, \
                    json_build_object('userName', 'User' || i), \
                    jsonb_build_object('userName', 'user' || i, 'displayName', 'person ' || i, \
                        'emails', jsonb_build_array(jsonb_build_object('value', 'user' || i || '@example.com', 'type', 'work'))) \
             FROM generate_series(1, $2) AS i",
        )
        .bind(t.id.to_string())
        .bind(n)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO resource_values (tenant_id, resource_id, attr, value) \
             SELECT $1, '0190f5a0-0000-7000-8000-' || lpad(i::text, 12, '0'), 'emails.value', \
                    'user' || i || '@example.com' FROM generate_series(1, $2) AS i",
        )
        .bind(t.id.to_string())
        .bind(n)
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO resources (tenant_id, id, kind, version, created, last_modified, name_key, \
         display_name_key, display_name, doc, search) \
         SELECT $1, '0190f5a0-0000-7000-9000-' || lpad(i::text, 12, '0'), 'Group', 1, \
                '2026-11-23T07:46:00.000Z', '2026-11-23T07:46:00.000Z', 'group ' || i, 'group ' || i, \
                'Group ' || i, json_build_object('displayName', 'Group ' || i), \
                jsonb_build_object('displayName', 'group ' || i) \
         FROM generate_series(1, $2) AS i",
    )
    .bind(tenant.id.to_string())
    .bind(GROUPS)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE").execute(pool).await.unwrap();
    let trgm: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
            .fetch_one(pool)
            .await
            .unwrap();

    let mut cases = vec![
        (ResourceKind::User, "userName eq \"USER4242\"", "resources_name_key"),
        (ResourceKind::User, "externalId eq \"ext-4242\"", "resources_external_id"),
        (ResourceKind::User, "emails.value eq \"User4242@Example.com\"", "resource_values_lookup"),
        (
            ResourceKind::User,
            "emails[type eq \"work\" and value eq \"user4242@example.com\"]",
            "resource_values_lookup",
        ),
        (ResourceKind::User, "displayName eq \"Person 4242\"", "resources_display_name"),
        (ResourceKind::Group, "displayName eq \"group 42\"", "resources_display_name"),
        (ResourceKind::User, "userName sw \"user4242\"", "resources_name_key"),
        (ResourceKind::User, "externalId sw \"ext-4242\"", "resources_external_id"),
    ];
    if trgm {
        cases.push((ResourceKind::User, "userName co \"er4242\"", "resources_name_key_trgm"));
        cases.push((ResourceKind::User, "displayName co \"son 4242\"", "resources_display_name_trgm"));
    } else {
        eprintln!("pg_trgm is not installed: co is not checked");
    }
    for (kind, filter, index) in cases {
        let rs = match kind {
            ResourceKind::User => ResourceSchema::user(),
            ResourceKind::Group => ResourceSchema::group(),
        };
        let mut b = SqlBuilder::new(Dialect::Postgres);
        // ANALYZE: the plan as run, with how many rows each node read and threw away.
        b.push("EXPLAIN (ANALYZE, FORMAT JSON) SELECT r.id FROM resources r WHERE r.tenant_id = ");
        b.bind(Bind::Text(tenant.id.to_string()));
        b.push(" AND r.kind = ");
        b.bind(Bind::Text(kind.as_str().into()));
        b.push(" AND (");
        compile_filter(&scimd_filter::parse_filter(filter).unwrap(), &rs, kind, &mut b).unwrap();
        b.push(")");
        let (text, binds) = b.finish();
        let mut q = sqlx::query(&text);
        for bind in &binds {
            q = match bind {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
                Bind::Real(f) => q.bind(*f),
                Bind::Bool(v) => q.bind(*v),
                Bind::Null(scimd_store::sql::NullType::Text) => q.bind(None::<String>),
                Bind::Null(scimd_store::sql::NullType::Bool) => q.bind(None::<bool>),
                Bind::Null(scimd_store::sql::NullType::Int) => q.bind(None::<i64>),
            };
        }
        let row = q.fetch_one(pool).await.unwrap();
        let plan: Value = row.try_get(0).unwrap();
        let mut all = Vec::new();
        nodes(&plan[0]["Plan"], &mut all);
        let scans_resources =
            all.iter().any(|n| n["Node Type"] == "Seq Scan" && n["Relation Name"] == "resources");
        let uses_index = all.iter().any(|n| n["Index Name"] == index);
        assert!(
            !scans_resources && uses_index,
            "{filter}: {index} not used, or resources scanned:\n{plan:#}"
        );
        // An index can be used and the tenant still read row by row: an index scan of all its users filtered
        // by a subquery (what `emails… eq` did once, before it became an `EXISTS`). The hot filters touch a
        // handful of rows.
        let discarded = all.iter().filter_map(|n| n["Rows Removed by Filter"].as_i64()).max().unwrap_or(0);
        assert!(discarded <= 1_000, "{filter}: a plan node read and discarded {discarded} rows:\n{plan:#}");

        // And the store answers it, through the same compiler.
        let query = ListQuery {
            filter: Some(scimd_filter::parse_filter(filter).unwrap()),
            sort_by: None,
            sort_order: SortOrder::Ascending,
            paging: Paging::Index { start_index: 1, count: 5 },
            with_members: false,
        };
        let page = store.list(tenant.id, kind, &rs, &query).await.unwrap();
        assert!(page.total_results >= 1, "{filter}: no match");
    }
}
