//! Audit append overhead per mediated call, amortized over batched commits (each commit flushes
//! to disk and signs a tree head), against the same records written to sled with the same
//! batching but no Merkle tree and no signature, measured in the same run: once with one sled
//! key per record (the layout of store format 1, whose per-key inserts were the floor), once
//! with one value per batch (the layout the log uses now: one chunk per commit).
//!
//! Run: `cargo bench -p eigenbox-audit --bench append`. Goal: ≤ 10 µs per record amortized.

use std::time::{Duration, Instant};

use eigenbox_audit::*;

const BATCHES: [u64; 3] = [64, 256, 1024];

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
    // Baselines: the same records, serialized and written to sled in the same batches, flushed.
    let mut per_key = Vec::new();
    let mut per_batch = Vec::new();
    for batch in BATCHES {
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
        per_key.push(t.elapsed() / n as u32);
        results.push((format!("baseline: sled, a key per record, batch {batch} + flush"), t.elapsed() / n as u32));
    }
    for batch in BATCHES {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let tree = db.open_tree("plain").unwrap();
        let t = Instant::now();
        let mut value = Vec::new();
        let mut first = 0u64;
        for i in 0..n {
            let r = serde_json::to_vec(&rec(i)).unwrap();
            value.extend_from_slice(&(r.len() as u32).to_be_bytes());
            value.extend_from_slice(&r);
            if (i + 1) % batch == 0 {
                tree.insert(first.to_be_bytes(), std::mem::take(&mut value)).unwrap();
                db.flush().unwrap();
                first = i + 1;
            }
        }
        if !value.is_empty() {
            tree.insert(first.to_be_bytes(), value).unwrap();
        }
        db.flush().unwrap();
        per_batch.push(t.elapsed() / n as u32);
        results.push((format!("baseline: sled, one value per batch of {batch} + flush"), t.elapsed() / n as u32));
    }
    let mut audit = Vec::new();
    for batch in BATCHES {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
        let log = AuditLog::open(&db, Some(key), AuditConfig { batch: batch as usize, head_every: 1, redact_args: false }).unwrap();
        let t = Instant::now();
        for i in 0..n {
            log.append(rec(i)).unwrap();
        }
        log.commit().unwrap();
        audit.push(t.elapsed() / n as u32);
        results.push((format!("audit: append, commit+flush+signed head per {batch}"), t.elapsed() / n as u32));
    }
    // What the caller's path pays when commits happen elsewhere (an episode's end, a timer).
    {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let key = LogKey::create(&dir.path().join("audit.key")).unwrap();
        let log = AuditLog::open(&db, Some(key), AuditConfig { batch: usize::MAX, head_every: 1, redact_args: false }).unwrap();
        let t = Instant::now();
        for i in 0..n {
            log.append(rec(i)).unwrap();
        }
        results.push(("audit: append alone (buffered, incl. the record)".to_string(), t.elapsed() / n as u32));
        let t = Instant::now();
        log.commit().unwrap();
        results.push((format!("audit: one commit of {n} (per record)"), t.elapsed() / n as u32));
    }
    for (name, d) in &results {
        println!("{name:<58} {:>8.2} µs/record", d.as_secs_f64() * 1e6);
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64().max(1e-12);
    for (i, batch) in BATCHES.iter().enumerate() {
        println!(
            "  -> batch {batch}: audit / sled one value per batch = {:.2}, audit / sled a key per record = {:.2}; goal <= 10 µs amortized: {}",
            ratio(audit[i], per_batch[i]),
            ratio(audit[i], per_key[i]),
            if audit[i] <= Duration::from_micros(10) { "met" } else { "NOT met" }
        );
    }
}
