//! Cost of storing deliveries, by batch size: the figures behind group commit. Writes real
//! 26 KB pull_request payloads (compressed as ingest does) into a fresh SQLite database, and
//! into PostgreSQL when SHIPGATE_TEST_POSTGRES_URL (default 127.0.0.1:5432/test) answers.
//! Run: `cargo bench --bench store` (`BENCH_BATCHES=1,8` for some batch sizes only).

use std::time::Instant;

use shipgate::settings::DatabaseUrl;
use shipgate::store::Store;
use shipgate::store::codec;
use shipgate::store::deliveries::NewDelivery;

fn delivery(n: usize, body: &[u8]) -> NewDelivery {
    NewDelivery {
        delivery_id: format!("{n:08x}-bench-{}", n * 7919 % 10007),
        event: "pull_request".into(),
        action: Some("opened".into()),
        installation_id: Some(1),
        repository: Some("acme/widgets".into()),
        headers_json: r#"{"user-agent":"GitHub-Hookshot/bench"}"#.into(),
        body: Some((codec::DEFAULT, codec::DEFAULT.compress(body))),
        body_len: body.len() as i64,
        received_at: 0,
    }
}

/// CPU seconds this process has used (user + system), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

async fn run(label: &str, store: &Store, body: &[u8]) {
    let mut n = 0;
    let sizes: Vec<usize> = std::env::var("BENCH_BATCHES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 4, 8, 16, 64, 256]);
    for batch in sizes {
        let commits = (8000 / batch).max(20);
        let rows: Vec<Vec<NewDelivery>> = (0..commits)
            .map(|_| {
                (0..batch)
                    .map(|_| {
                        n += 1;
                        delivery(n, body)
                    })
                    .collect()
            })
            .collect();
        let cpu = cpu_seconds();
        let start = Instant::now();
        for batch_rows in &rows {
            store.insert_deliveries(batch_rows).await.expect("insert");
        }
        let elapsed = start.elapsed();
        let cpu = cpu_seconds() - cpu;
        let rows = commits * batch;
        println!(
            "{label:<10} batch {batch:>3}: {:>7.0} rows/s  {:>7.1} µs per commit  {:>6.1} µs per row  ({:>5.1} µs CPU per row in shipgate)",
            rows as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / commits as f64,
            elapsed.as_secs_f64() * 1e6 / rows as f64,
            cpu * 1e6 / rows as f64,
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/webhooks/pull_request/opened-12.json"
    ))
    .expect("fixture");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&DatabaseUrl::parse(&url).unwrap())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    run("sqlite", &store, &body).await;

    let admin = std::env::var("SHIPGATE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    use sqlx::Connection;
    let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
        println!("postgres   (not reachable, skipped)");
        return;
    };
    let name = format!("shipgate_store_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&name);
    let pg = Store::connect(&DatabaseUrl::parse(url.as_str()).unwrap())
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    run("postgres", &pg, &body).await;
    pg.close().await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
}
