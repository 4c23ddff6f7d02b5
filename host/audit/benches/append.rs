//! Audit append overhead per mediated call, amortized over batched commits (each commit flushes
//! to disk and signs a tree head), against the same records written to sled with the same
//! batching but no Merkle tree and no signature, measured in the same run.
//!
//! Run: `cargo bench -p eigenbox-audit --bench append`. Goal: ≤ 10 µs per record amortized.

use std::time::{Duration, Instant};

use eigenbox_audit::*;

fn rec(i: u64) -> Record {
    let decision = DecisionRecord { allow: true, rules: vec!["agents-read".into()], policy_hash: "ab".repeat(32), reason: "allowed tool-read `airline/get_user_details` by `assistant` by rule `agents-read`".into() };
    let actor = Actor { component: "assistant".into(), sha256: Some("cd".repeat(32)), wit: Some("eigenbox:role/role-plugin@0.1.0".into()), role: Some("assistant".into()) };
    let mut r = Record::new(actor, ActionKind::Tool, "airline/get_user_details", decision, Outcome::Ok).with_args(&format!("{{\"user_id\": \"mia_li_{i}\"}}")).with_result("{\"name\": \"Mia Li\", \"reservations\": [\"NO6JO3\"]}");
    r.episode = Some("ep-42".into());
    r.run = Some("run-000007".into());
    r.fuel = Some(123_456);
    r.wall_us = Some(87);
    r.memory_bytes = Some(2 << 20);
    r
}

fn main() {
    let n: u64 = 50_000;
    println!("eigenbox audit append bench ({}), {n} records per case", std::env::consts::ARCH);
    let mut results: Vec<(String, Duration)> = Vec::new();

    let t = Instant::now();
    for i in 0..n {
        std::hint::black_box(serde_json::to_vec(&rec(i)).unwrap());
    }
    results.push(("(building + serializing a record alone)".to_string(), t.elapsed() / n as u32));
    // Baseline: the same records, serialized and written to sled in the same batches, flushed.
    for batch in [64u64, 256, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("plain").unwrap();
        let t = Instant::now();
        let mut b = sled::Batch::default();
        for i in 0..n {
            b.insert(&i.to_be_bytes(), serde_json::to_vec(&rec(i)).unwrap());
            if (i + 1) % batch == 0 {
                tree.apply_batch(std::mem::take(&mut b)).unwrap();
                db.flush().unwrap();
            }
        }
        tree.apply_batch(b).unwrap();
        db.flush().unwrap();
        results.push((format!("baseline: sled batch of {batch} + flush"), t.elapsed() / n as u32));
    }
    for batch in [64usize, 256, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
        let log = AuditLog::open(&db, Some(key), AuditConfig { batch, head_every: 1, redact_args: false }).unwrap();
        let t = Instant::now();
        for i in 0..n {
            log.append(rec(i)).unwrap();
        }
        log.commit().unwrap();
        results.push((format!("audit: append, commit+flush+signed head per {batch}"), t.elapsed() / n as u32));
    }
    for (name, d) in &results {
        println!("{name:<58} {:>8.2} µs/record", d.as_secs_f64() * 1e6);
    }
    for (i, batch) in [64, 256, 1024].iter().enumerate() {
        let (base, audit) = (results[i + 1].1, results[i + 4].1);
        println!(
            "  -> batch {batch}: audit / baseline = {:.2}; goal <= 10 µs amortized: {}",
            audit.as_secs_f64() / base.as_secs_f64().max(1e-12),
            if audit <= Duration::from_micros(10) { "met" } else { "NOT met" }
        );
    }
}
