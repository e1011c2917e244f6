//! How fast each body codec compresses and restores a real 26 KB `pull_request` payload, and
//! how small it gets: the figures behind `store::codec::DEFAULT`. Run: `cargo bench --bench codec`.

use std::hint::black_box;
use std::time::Instant;

fn measure(
    name: &str,
    body: &[u8],
    compress: impl Fn(&[u8]) -> Vec<u8>,
    decompress: impl Fn(&[u8]) -> Vec<u8>,
) {
    let stored = compress(body);
    assert_eq!(decompress(&stored), body, "{name} round-trips");
    let rounds = 3000;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(compress(black_box(body)));
    }
    let c = start.elapsed() / rounds;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(decompress(black_box(&stored)));
    }
    let d = start.elapsed() / rounds;
    println!(
        "{name:<14} {:>6} bytes ({:>4.1}x)   compress {:>6.1} µs ({:>5.0} MB/s)   decompress {:>5.1} µs",
        stored.len(),
        body.len() as f64 / stored.len() as f64,
        c.as_secs_f64() * 1e6,
        body.len() as f64 / c.as_secs_f64() / 1e6,
        d.as_secs_f64() * 1e6
    );
}

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/github/webhooks/pull_request/opened-12.json"
    );
    let body = std::fs::read(path).expect("fixture");
    println!(
        "payload: {} bytes (pull_request/opened-12.json)",
        body.len()
    );
    measure("lz4", &body, lz4_flex::compress_prepend_size, |s| {
        lz4_flex::decompress_size_prepended(s).unwrap()
    });
    for level in [1, -1, -3, -7] {
        measure(
            &format!("zstd {level}"),
            &body,
            |b| zstd::bulk::compress(b, level).unwrap(),
            |s| zstd::bulk::decompress(s, 1 << 20).unwrap(),
        );
    }
    measure(
        "hmac-sha256",
        &body,
        |b| shipgate::github::signature::sign(b"secret", b).into_bytes(),
        |_| body.clone(),
    );
}
