//! `scimd-bench webhook-latency`: event delivery as a receiver sees it (`bench/events.sh
//! --webhook`). A receiver on 127.0.0.1:0 is registered with `scimd webhook add`; then
//!
//! 1. users are POSTed at a steady `--rate` and, for each, the time from the POST's response to
//!    the receipt of its `user.created` is recorded (0 when the delivery came first);
//! 2. the whole log is replayed at once (`scimd webhook replay --from 1`) and the rate at which
//!    the receiver gets it is the endpoint's delivery throughput.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::Error;

#[derive(Debug, clap::Args)]
pub struct WebhookArgs {
    /// The server (`http://127.0.0.1:18081`).
    #[arg(long)]
    url: String,
    /// The tenant written to.
    #[arg(long, default_value = "bench")]
    tenant: String,
    /// A token with `users:create`.
    #[arg(long, env = "SCIMD_BENCH_TOKEN")]
    token: String,
    /// The `scimd` binary, for `webhook add` and `webhook replay` (on `SCIMD_DATABASE_URL`).
    #[arg(long)]
    scimd: String,
    /// Users POSTed in the latency phase.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Writes per second in the latency phase.
    #[arg(long, default_value_t = 200)]
    rate: u32,
}

#[derive(Clone, Default)]
struct Receipts(Arc<Mutex<Vec<(Instant, String, String)>>>);

/// Records (when, event id, resource id) and answers 204 at once.
async fn receive(State(r): State<Receipts>, headers: HeaderMap, body: String) -> StatusCode {
    let at = Instant::now();
    let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let resource = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["resource"]["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Ok(mut got) = r.0.lock() {
        got.push((at, id, resource));
    }
    StatusCode::NO_CONTENT
}

fn scimd(args: &WebhookArgs, cli: &[&str]) -> Result<Value, Error> {
    let o = std::process::Command::new(&args.scimd).args(cli).output()?;
    if !o.status.success() {
        return Err(format!("scimd {cli:?}: {}", String::from_utf8_lossy(&o.stderr)).into());
    }
    Ok(serde_json::from_slice(&o.stdout)?)
}

fn count(r: &Receipts) -> usize {
    r.0.lock().map_or(0, |g| g.len())
}

async fn wait_until(r: &Receipts, n: usize, patience: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + patience;
    while count(r) < n {
        if Instant::now() > deadline {
            return Err(format!("{} of {n} deliveries arrived", count(r)).into());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

pub async fn run(args: WebhookArgs) -> Result<(), Error> {
    let receipts = Receipts::default();
    let app = axum::Router::new().route("/hook", post(receive)).with_state(receipts.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let added =
        scimd(&args, &["webhook", "add", "--tenant", &args.tenant, "--url", &hook, "--allow-private"])?;
    let endpoint = added["id"].as_str().ok_or("webhook add printed no id")?.to_owned();

    // 1. Latency at a steady rate.
    let client = reqwest::Client::builder().no_proxy().build()?;
    let run = std::process::id();
    let answered: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1))));
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..args.writes {
        tick.tick().await;
        let (client, answered) = (client.clone(), answered.clone());
        let url = format!("{}/tenants/{}/scim/v2/Users", args.url, args.tenant);
        let token = args.token.clone();
        posts.spawn(async move {
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": format!("hook-{run}-{i}")});
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/scim+json")
                .body(body.to_string())
                .send()
                .await?;
            let at = Instant::now();
            if r.status().as_u16() != 201 {
                return Err::<(), Error>(format!("POST answered {}", r.status()).into());
            }
            let v: Value = r.json().await?;
            let id = v["id"].as_str().ok_or("no id")?.to_owned();
            if let Ok(mut a) = answered.lock() {
                a.insert(id, at);
            }
            Ok(())
        });
    }
    while let Some(r) = posts.join_next().await {
        r??;
    }
    wait_until(&receipts, args.writes, Duration::from_secs(60)).await?;
    let mut samples: Vec<Duration> = {
        let got = receipts.0.lock().map_err(|_| "poisoned")?;
        let answered = answered.lock().map_err(|_| "poisoned")?;
        got.iter()
            .filter_map(|(at, _, resource)| {
                answered.get(resource).map(|sent| at.saturating_duration_since(*sent))
            })
            .collect()
    };
    println!(
        "write -> webhook receipt at {} writes/s over {} writes: {}",
        args.rate,
        samples.len(),
        crate::distribution(&mut samples)
    );

    // 2. Throughput: the whole log again, at once.
    let before = count(&receipts);
    let started = Instant::now();
    let replayed =
        scimd(&args, &["webhook", "replay", "--tenant", &args.tenant, "--id", &endpoint, "--from", "1"])?;
    let queued = usize::try_from(replayed["queued"].as_u64().ok_or("replay printed no count")?)?;
    wait_until(&receipts, before + queued, Duration::from_secs(300)).await?;
    let secs = started.elapsed().as_secs_f64();
    // From the first replayed receipt to the last: the server's worker notices a replay made by
    // another process at its next poll (up to a second), which is not delivery throughput.
    let (first, last) = {
        let got = receipts.0.lock().map_err(|_| "poisoned")?;
        let replayed = &got[before..];
        (replayed.iter().map(|r| r.0).min(), replayed.iter().map(|r| r.0).max())
    };
    let span = match (first, last) {
        (Some(a), Some(b)) => b.saturating_duration_since(a).as_secs_f64(),
        _ => secs,
    };
    println!(
        "replay of {queued} events to one endpoint: {:.0} deliveries/s from first to last receipt ({span:.2} s; {secs:.2} s from the replay command)",
        queued.saturating_sub(1) as f64 / span.max(1e-9)
    );
    Ok(())
}
