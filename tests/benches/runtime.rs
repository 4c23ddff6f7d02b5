//! Per-episode isolation costs: instantiate, warm tool call, fork (snapshot → fresh instance →
//! restore) and DB hash, for the mock domain and for a synthetic ~7 MB state (the size of τ²'s
//! airline DB) held by the example notes domain. The JSON route (a fresh instance plus `reset`
//! with the whole state as initialization data) is measured in the same run as the baseline the
//! fork must beat.
//!
//! Run: `scripts/build.sh && cargo bench -p eigenbox-tests --bench runtime`

use std::time::{Duration, Instant};

use eigenbox_runtime::{DbSide, DomainInstance, EpisodeInit, Requestor};
use eigenbox_tests::{mock_domain, runtime};

fn stats(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<44} n={:<5} p50 {:>10.1} µs   p90 {:>10.1} µs   min {:>10.1} µs",
        samples.len(),
        p(0.5).as_secs_f64() * 1e6,
        p(0.9).as_secs_f64() * 1e6,
        samples[0].as_secs_f64() * 1e6
    );
    p(0.5)
}

/// Time `n` runs of an async expression (re-evaluated each time, so it may borrow mutably).
macro_rules! time {
    ($n:expr, $e:expr) => {{
        let mut out = Vec::with_capacity($n);
        for _ in 0..$n {
            let t = Instant::now();
            let _r = std::hint::black_box($e.await);
            out.push(t.elapsed());
        }
        out
    }};
}


#[tokio::main(flavor = "current_thread")]
async fn main() {
    let host = runtime("");
    println!("eigenbox runtime bench ({}), wasmtime 48, release build", std::env::consts::ARCH);

    // --- mock domain -------------------------------------------------------------------------
    let mock = mock_domain(&host);
    let inst = stats("mock: instantiate (fresh store+instance)", time!(200, DomainInstance::new(mock.clone())));
    let mut d = DomainInstance::new(mock.clone()).await.unwrap();
    d.tools().await.unwrap();
    let warm = stats(
        "mock: warm tool call (update_task_status)",
        time!(2000, d.call_tool(Requestor::Assistant, "update_task_status", r#"{"task_id": "task_1", "status": "completed"}"#)),
    );
    stats("mock: DB hash", time!(2000, d.state_hash(DbSide::Assistant)));
    let fork = stats("mock: fork (snapshot, new instance, restore)", time!(200, d.fork()));
    println!("  -> fork / instantiate = {:.2}, warm call = {:.0} calls/s", fork.as_secs_f64() / inst.as_secs_f64(), 1.0 / warm.as_secs_f64());

    // Frozen states (wizer pre-initialised snapshots): freeze once, then every fork is a fresh
    // instance of the frozen component, whose memory image wasmtime maps copy-on-write.
    let t = Instant::now();
    let first = d.freeze().await.unwrap();
    let first_freeze = t.elapsed();
    println!("mock: first freeze {:.1} ms ({:?}), frozen component {:.2} MB", first_freeze.as_secs_f64() * 1e3, first.info().stats, first.info().frozen_bytes as f64 / 1e6);
    stats("mock: freeze (one-time)", time!(5, d.freeze()));
    let frozen = d.freeze().await.unwrap();
    let ffork = stats("mock: fork from frozen state (fresh instance)", time!(200, DomainInstance::from_frozen(&frozen)));
    stats(
        "mock: fork from frozen + first tool call",
        time!(200, async {
            let mut e = DomainInstance::from_frozen(&frozen).await.unwrap();
            e.call_tool(Requestor::Assistant, "update_task_status", r#"{"task_id": "task_1", "status": "pending"}"#).await.unwrap().unwrap();
            e
        }),
    );
    println!("  -> fork from frozen / fork = {:.3} ({:.1}x faster), / instantiate = {:.2}", ffork.as_secs_f64() / fork.as_secs_f64(), fork.as_secs_f64() / ffork.as_secs_f64(), ffork.as_secs_f64() / inst.as_secs_f64());

    // --- synthetic ~7 MB state in the notes domain -------------------------------------------
    let notes = eigenbox_tests::big_notes_domain(&host);
    let state = eigenbox_tests::synthetic_notes(7 * 1024 * 1024);
    println!("synthetic state: {:.1} MB of JSON", state.len() as f64 / 1e6);
    let init = EpisodeInit { agent_data: Some(state.clone()), user_data: None, actions: vec![] };
    let json_route = stats(
        "7MB: JSON route (fresh instance + reset(data))",
        time!(5, async {
            let mut e = DomainInstance::new(notes.clone()).await.unwrap();
            e.reset(init.clone()).await.unwrap().unwrap();
            e
        }),
    );
    let mut big = DomainInstance::new(notes.clone()).await.unwrap();
    big.reset(init.clone()).await.unwrap().unwrap();
    big.tools().await.unwrap();
    stats("7MB: instantiate (empty state)", time!(50, DomainInstance::new(notes.clone())));
    stats(
        "7MB: warm tool call (create_note)",
        time!(200, big.call_tool(Requestor::Assistant, "create_note", r#"{"title": "x", "body": "y"}"#)),
    );
    stats("7MB: DB hash (cached, state unchanged)", time!(10, big.state_hash(DbSide::Assistant)));
    // What the evaluator pays after a replay: the first hash after a write (the write itself is ~5 µs).
    let hash = stats(
        "7MB: DB hash right after a write (uncached)",
        time!(10, async {
            big.call_tool(Requestor::Assistant, "create_note", r#"{"title": "h", "body": "h"}"#).await.unwrap().unwrap();
            big.state_hash(DbSide::Assistant).await.unwrap()
        }),
    );
    let snap = stats("7MB: snapshot", time!(10, big.snapshot()));
    let fork = stats("7MB: fork (snapshot, new instance, restore)", time!(10, big.fork()));
    println!("  -> fork {:.1} ms vs JSON route {:.1} ms: {:.1}x faster (snapshot alone {:.1} ms)", fork.as_secs_f64() * 1e3, json_route.as_secs_f64() * 1e3, json_route.as_secs_f64() / fork.as_secs_f64(), snap.as_secs_f64() * 1e3);

    let t = Instant::now();
    let first = big.freeze().await.unwrap();
    let first_freeze = t.elapsed();
    println!("7MB: first freeze {:.1} ms ({:?}), frozen component {:.1} MB", first_freeze.as_secs_f64() * 1e3, first.info().stats, first.info().frozen_bytes as f64 / 1e6);
    drop(first);
    let freeze = stats("7MB: freeze (one-time)", time!(3, big.freeze()));
    let frozen = big.freeze().await.unwrap();
    println!("  (freeze breakdown: {:?})", frozen.info().stats);
    let ffork = stats("7MB: fork from frozen state (fresh instance)", time!(200, DomainInstance::from_frozen(&frozen)));
    stats(
        "7MB: fork from frozen + first tool call",
        time!(50, async {
            let mut e = DomainInstance::from_frozen(&frozen).await.unwrap();
            e.call_tool(Requestor::Assistant, "create_note", r#"{"title": "x", "body": "y"}"#).await.unwrap().unwrap();
            e
        }),
    );
    stats(
        "7MB: fork from frozen + DB hash",
        time!(10, async {
            let mut e = DomainInstance::from_frozen(&frozen).await.unwrap();
            e.state_hash(DbSide::Assistant).await.unwrap();
            e
        }),
    );
    println!(
        "  -> fork from frozen {:.1} µs vs fork {:.1} ms: {:.0}x faster; freeze {:.0} ms pays for itself after {:.1} forks",
        ffork.as_secs_f64() * 1e6,
        fork.as_secs_f64() * 1e3,
        fork.as_secs_f64() / ffork.as_secs_f64(),
        freeze.as_secs_f64() * 1e3,
        freeze.as_secs_f64() / (fork.as_secs_f64() - ffork.as_secs_f64())
    );
    println!(
        "  -> targets: fork <= 100 µs (snapshot fork {:.0} µs, fork from frozen state {:.1} µs), DB hash <= 5 ms (now {:.2} ms)",
        fork.as_secs_f64() * 1e6,
        ffork.as_secs_f64() * 1e6,
        hash.as_secs_f64() * 1e3
    );
}
