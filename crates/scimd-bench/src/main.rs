//! `scimd-bench seed`: fills a scimd database for the load benchmark (`bench/run.sh`).
//! `scimd-bench event-latency`: measures how long the event log's long poll takes to deliver a
//! write's event after the write's response (`bench/events.sh`).
//! `scimd-bench webhook-latency`: the same for a webhook receiver, and one endpoint's delivery
//! throughput (`bench/events.sh --webhook`).
//!
//! Seeding through HTTP, one request per user, would take an hour for a million users; this tool
//! opens the database with the store the server uses and calls the same `ResourceStore::create`
//! with the same validated, normalised documents the POST handler stores (schema validation,
//! search copy, audit row), from many tasks at once so that the store's group commit batches them
//! into large transactions. It is a test fixture, not a second way into production databases: the
//! `scimd` binary has no such command.
//!
//! What it writes (tenants must exist, created with `scimd tenant create`):
//! - in `--tenant`: `--users` users `user{i}` with a work email `user{i}@work.example.com`;
//! - in `--group-tenant` (when `--group-members` > 0): that many member users `member{i}`,
//!   `--patch-pool` more users `extra{i}` that PATCH requests add one at a time, and one group
//!   `big` whose members are the `member{i}` users.
//!
//! Into `--out` it writes the ids the load script needs: `user-ids.txt` (an evenly spread sample),
//! `group-id.txt` and `patch-ids.txt`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod webhook;

use clap::Parser;
use serde_json::{Value, json};

use scimd_schema::ResourceSchema;
use scimd_schema::validate::{ValidateOptions, validate_create};
use scimd_store::{NewResource, ResourceKind, Store, SystemClock, WriteContext, search_document};
use scimd_store_sqlite::SqliteStore;

#[derive(Debug, Parser)]
#[command(name = "scimd-bench", about = "Seeds a scimd database for bench/run.sh")]
enum Cli {
    /// Creates users (and optionally one large group) through the store.
    Seed(SeedArgs),
    /// Measures write-response-to-event latency through a running server's long poll.
    EventLatency(LatencyArgs),
    /// Measures write-to-webhook-receipt latency and one endpoint's delivery throughput.
    WebhookLatency(webhook::WebhookArgs),
}

#[derive(Debug, clap::Args)]
struct LatencyArgs {
    /// The server (`http://127.0.0.1:18080`).
    #[arg(long)]
    url: String,
    /// The tenant written to and read from.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// A token with `users:create`.
    #[arg(long, env = "SCIMD_BENCH_TOKEN")]
    token: String,
    /// A token with `events:read`.
    #[arg(long, env = "SCIMD_BENCH_EVENTS_TOKEN")]
    events_token: String,
    /// How many writes to time, one after another.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// The database (`sqlite://PATH` or `postgres://…`), already migrated.
    #[arg(long, env = "SCIMD_DATABASE_URL")]
    database: String,
    /// Slug of the tenant that receives the users.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// How many users to create in `--tenant`.
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    /// Slug of the tenant that holds the large group and its members.
    #[arg(long, default_value = "groups")]
    group_tenant: String,
    /// Members of the large group (0: no group).
    #[arg(long, default_value_t = 100_000)]
    group_members: usize,
    /// Users created beside the group for PATCH requests to add.
    #[arg(long, default_value_t = 50_000)]
    patch_pool: usize,
    /// How many ids to write to `user-ids.txt`.
    #[arg(long, default_value_t = 10_000)]
    sample: usize,
    /// Concurrent create calls (the batch size group commit can reach).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Directory for the id files.
    #[arg(long)]
    out: PathBuf,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let result = match Cli::parse() {
        Cli::Seed(args) => seed(args).await,
        Cli::EventLatency(args) => event_latency(args).await,
        Cli::WebhookLatency(args) => webhook::run(args).await,
    };
    if let Err(e) = result {
        eprintln!("scimd-bench: {e}");
        std::process::exit(1);
    }
}

/// For each of `writes` users: a long poll (`wait=10`) is waiting for the next event, the user is
/// POSTed, and the time from the POST's response to the poll's answer is recorded (0 when the
/// event arrived first: the commit precedes the response). Prints the distribution.
async fn event_latency(args: LatencyArgs) -> Result<(), Error> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let events = format!("{}/admin/v1/tenants/{}/events", args.url, args.tenant);
    let head: Value =
        client.get(format!("{events}/head")).bearer_auth(&args.events_token).send().await?.json().await?;
    let mut after: u64 = head["seq"].as_str().and_then(|s| s.parse().ok()).ok_or("head has no seq")?;
    let run = std::process::id();
    let mut samples = Vec::with_capacity(args.writes);
    for i in 0..args.writes {
        let poll = {
            let (client, url, token) =
                (client.clone(), format!("{events}?after={after}&wait=10"), args.events_token.clone());
            tokio::spawn(async move {
                let page: Value = client.get(url).bearer_auth(token).send().await?.json().await?;
                Ok::<_, Error>((std::time::Instant::now(), page))
            })
        };
        // Let the poll reach its wait; if it has not, it finds the event on its first read.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": format!("latency-{run}-{i}")});
        let r = client
            .post(format!("{}/tenants/{}/scim/v2/Users", args.url, args.tenant))
            .bearer_auth(&args.token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        let answered = std::time::Instant::now();
        if r.status().as_u16() != 201 {
            return Err(format!("POST answered {}", r.status()).into());
        }
        let (arrived, page) = poll.await??;
        let next = page["next"].as_str().and_then(|s| s.parse().ok()).ok_or("page has no next")?;
        if page["events"].as_array().is_none_or(Vec::is_empty) {
            return Err("the long poll answered without the event".into());
        }
        after = next;
        samples.push(arrived.saturating_duration_since(answered));
    }
    println!("event latency over {} writes: {}", samples.len(), distribution(&mut samples));
    Ok(())
}

/// `p50 …, p90 …, p99 …, max …` in milliseconds (sorts `samples`).
fn distribution(samples: &mut [std::time::Duration]) -> String {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    format!("p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms", at(0.5), at(0.9), at(0.99), at(1.0))
}

async fn open(url: &str) -> Result<Arc<dyn Store>, Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // Enough connections for the 256 seeding tasks to keep PostgreSQL busy.
        let options = scimd_store_postgres::PgOptions { max_connections: 32, ..Default::default() };
        return Ok(Arc::new(scimd_store_postgres::PgStore::open(url, &options, Arc::new(SystemClock))?));
    }
    if !url.starts_with("sqlite:") {
        return Err(format!("unsupported database URL {url:?}: use sqlite://PATH or postgres://…").into());
    }
    let store = SqliteStore::open(url, Arc::new(SystemClock)).await?;
    Ok(Arc::new(store))
}

async fn writer_for(store: &dyn Store, slug: &str) -> Result<WriteContext, Error> {
    let tenant = store
        .tenant_by_slug(slug)
        .await?
        .ok_or_else(|| format!("no tenant {slug:?}: create it with `scimd tenant create {slug}`"))?;
    Ok(WriteContext {
        tenant: tenant.id,
        actor: "scimd-bench seed".into(),
        tenant_slug: tenant.slug.clone(),
        client: "other".into(),
        request_id: None,
        refuse_unknown_members: false,
    })
}

/// The document a client would POST for user `name`, validated and normalised as the server does.
fn user(rs: &ResourceSchema, name: &str) -> Result<NewResource, Error> {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "name": {"givenName": "Bench", "familyName": name},
        "displayName": format!("Bench {name}"),
        "active": true,
        "emails": [
            {"value": format!("{name}@work.example.com"), "type": "work", "primary": true},
            {"value": format!("{name}@home.example.com"), "type": "home"}
        ]
    });
    let doc = validate_create(rs, body, &ValidateOptions::default())?;
    let search = search_document(rs, &doc);
    Ok(NewResource { kind: ResourceKind::User, doc, search, members: Vec::new(), password_hash: None })
}

/// Creates `count` users named `{prefix}{i}` from `concurrency` tasks; returns their ids by `i`.
async fn create_users(
    store: &Arc<dyn Store>,
    ctx: &WriteContext,
    prefix: &str,
    count: usize,
    concurrency: usize,
) -> Result<Vec<String>, Error> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (store, ctx, next, prefix) = (store.clone(), ctx.clone(), next.clone(), prefix.to_owned());
        tasks.push(tokio::spawn(async move {
            let rs = ResourceSchema::user();
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok::<_, Error>(made);
                }
                let (stored, _) = store.create(&ctx, user(&rs, &format!("{prefix}{i}"))?).await?;
                made.push((i, stored.id));
                if i > 0 && i % 100_000 == 0 {
                    eprintln!("  {prefix}: {i} of {count}");
                }
            }
        }));
    }
    let mut ids = vec![String::new(); count];
    for t in tasks {
        for (i, id) in t.await?? {
            ids[i] = id;
        }
    }
    Ok(ids)
}

fn write_lines(path: PathBuf, lines: &[String]) -> Result<(), Error> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.flush()?;
    Ok(())
}

async fn seed(args: SeedArgs) -> Result<(), Error> {
    let store = open(&args.database).await?;
    std::fs::create_dir_all(&args.out)?;

    let ctx = writer_for(store.as_ref(), &args.tenant).await?;
    let ids = create_users(&store, &ctx, "user", args.users, args.concurrency).await?;
    // An evenly spread sample, so GETs touch the whole table rather than one hot row.
    let step = (ids.len() / args.sample.max(1)).max(1);
    let sample: Vec<String> = ids.iter().step_by(step).take(args.sample).cloned().collect();
    write_lines(args.out.join("user-ids.txt"), &sample)?;
    eprintln!("seeded {} users in tenant {:?}", ids.len(), args.tenant);

    if args.group_members > 0 {
        let gctx = writer_for(store.as_ref(), &args.group_tenant).await?;
        let members = create_users(&store, &gctx, "member", args.group_members, args.concurrency).await?;
        let pool = create_users(&store, &gctx, "extra", args.patch_pool, args.concurrency).await?;
        let rs = ResourceSchema::group();
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "big",
        });
        let doc: Value = validate_create(&rs, body, &ValidateOptions::default())?;
        let search = search_document(&rs, &doc);
        let new = NewResource { kind: ResourceKind::Group, doc, search, members, password_hash: None };
        let (group, report) = store.create(&gctx, new).await?;
        if !report.skipped.is_empty() {
            return Err(format!("{} members were skipped", report.skipped.len()).into());
        }
        write_lines(args.out.join("group-id.txt"), std::slice::from_ref(&group.id))?;
        write_lines(args.out.join("patch-ids.txt"), &pool)?;
        eprintln!(
            "seeded group {} with {} members in tenant {:?}",
            group.id, args.group_members, args.group_tenant
        );
    }
    store.close().await;
    Ok(())
}
