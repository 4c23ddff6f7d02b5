//! The stored log: appends, commits, reopen, proofs, signed heads, keys.

use eigenbox_audit::merkle::{verify_consistency, verify_inclusion, MemoryTree};
use eigenbox_audit::*;

fn rec(i: u64) -> Record {
    let decision = DecisionRecord { allow: !i.is_multiple_of(3), rules: vec![if i.is_multiple_of(3) { "write-needs-confirmation".into() } else { "agents-read".into() }], policy_hash: "ab".repeat(32), reason: format!("reason {i}") };
    let actor = Actor { component: if i.is_multiple_of(2) { "assistant".into() } else { "acme:sim".into() }, sha256: None, wit: None, role: Some("assistant".into()) };
    let mut r = Record::new(actor, ActionKind::Tool, format!("mock/tool_{}", i % 4), decision, if i.is_multiple_of(3) { Outcome::Denied } else { Outcome::Ok }).with_args(&format!("{{\"i\": {i}}}"));
    r.episode = Some(format!("ep-{}", i / 10));
    r.run = Some("run-1".into());
    r.time_ms = 1_700_000_000_000 + i;
    r
}

fn open(dir: &std::path::Path, config: AuditConfig) -> (sled::Db, AuditLog, PublicKey) {
    let db = sled::open(dir.join("db")).unwrap();
    let key = LogKey::load_or_create(&dir.join("audit.key")).unwrap();
    let public = key.public();
    let log = AuditLog::open(&db, Some(key), config).unwrap();
    (db, log, public)
}

#[test]
fn appends_commit_reopen_and_roots_match_a_recomputation() {
    let dir = tempfile::tempdir().unwrap();
    let mut leaves = MemoryTree::new();
    {
        let (_db, log, public) = open(dir.path(), AuditConfig { batch: 7, ..AuditConfig::default() });
        for i in 0..50 {
            assert_eq!(log.append(rec(i)).unwrap(), i);
        }
        assert_eq!(log.size(), 50);
        assert_eq!(log.committed(), 49, "batches of 7 commit by themselves");
        assert_eq!(log.commit().unwrap(), 50);
        for i in 0..50 {
            leaves.push(merkle::leaf_hash(&log.raw(i).unwrap().unwrap()));
        }
        assert_eq!(log.root(), leaves.root(50));
        assert_eq!(log.check(Some(&public)).unwrap(), 50);
        let head = log.latest_head().unwrap().unwrap();
        assert_eq!(head.size, 50);
        assert!(public.verify_head(&head));
    }
    // Reopen: the same log, appends continue where it stopped.
    let (_db, log, public) = open(dir.path(), AuditConfig::default());
    assert_eq!(log.size(), 50);
    assert_eq!(log.root(), leaves.root(50));
    assert_eq!(log.append(rec(50)).unwrap(), 50);
    log.commit().unwrap();
    let back = log.get(50).unwrap().unwrap();
    assert_eq!(back.seq, 50);
    assert_eq!(back.target, "mock/tool_2");
    assert_eq!(log.check(Some(&public)).unwrap(), 51);
}

#[test]
fn proofs_from_the_store_verify_against_signed_heads() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log, public) = open(dir.path(), AuditConfig { batch: 1000, head_every: 1, ..AuditConfig::default() });
    let mut heads = Vec::new();
    for i in 0..37 {
        log.append(rec(i)).unwrap();
        if i % 5 == 4 || i == 36 {
            log.commit().unwrap();
            heads.push(log.latest_head().unwrap().unwrap());
        }
    }
    assert_eq!(log.heads().unwrap(), heads);
    let root = |h: &SignedTreeHead| -> merkle::Hash { hex::decode(&h.root).unwrap().try_into().unwrap() };
    for h in &heads {
        assert!(public.verify_head(h));
        assert_eq!(log.root_at(h.size).unwrap(), root(h));
        for seq in 0..h.size {
            let leaf = merkle::leaf_hash(&log.raw(seq).unwrap().unwrap());
            let p = log.inclusion_proof(seq, h.size).unwrap();
            assert!(verify_inclusion(seq, h.size, &leaf, &p, &root(h)), "seq {seq} size {}", h.size);
        }
    }
    for a in &heads {
        for b in &heads {
            if a.size <= b.size {
                let p = log.consistency_proof(a.size, b.size).unwrap();
                assert!(verify_consistency(a.size, b.size, &root(a), &root(b), &p), "{} -> {}", a.size, b.size);
            }
        }
    }
    assert!(matches!(log.inclusion_proof(37, 37), Err(AuditError::OutOfRange(_))));
    assert!(matches!(log.consistency_proof(5, 99), Err(AuditError::OutOfRange(_))));
}

#[test]
fn uncommitted_records_are_not_visible_and_redaction_keeps_only_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log, _) = open(dir.path(), AuditConfig { redact_args: true, batch: 100, head_every: 1 });
    log.append(rec(1)).unwrap();
    assert_eq!(log.get(0).unwrap(), None, "buffered, not acknowledged");
    log.commit().unwrap();
    let r = log.get(0).unwrap().unwrap();
    assert_eq!(r.args, None);
    assert_eq!(r.args_sha256.as_deref(), Some(sha256_hex(b"{\"i\": 1}").as_str()));
}

#[test]
fn heads_every_n_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log, _) = open(dir.path(), AuditConfig { batch: 10, head_every: 25, ..AuditConfig::default() });
    for i in 0..60 {
        log.append(rec(i)).unwrap();
    }
    log.commit().unwrap();
    let sizes: Vec<u64> = log.heads().unwrap().iter().map(|h| h.size).collect();
    assert_eq!(sizes, [30, 60]);
    let h = log.checkpoint().unwrap();
    assert_eq!(h.size, 60, "nothing new: the checkpoint is the latest head");
    log.append(rec(60)).unwrap();
    assert_eq!(log.checkpoint().unwrap().size, 61);
}

#[test]
fn an_empty_log_can_be_checkpointed_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, log, public) = open(dir.path(), AuditConfig::default());
    let h = log.checkpoint().unwrap();
    assert_eq!((h.size, h.root.as_str()), (0, hex::encode(merkle::empty_root()).as_str()));
    let mut out = Vec::new();
    export(&log, &Filter::default(), &mut out).unwrap();
    assert_eq!(verify_export(&mut out.as_slice(), &public, None).unwrap().entries, 0);
}

#[test]
fn a_log_without_its_key_reads_but_does_not_sign() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (_db, log, _) = open(dir.path(), AuditConfig::default());
        log.append(rec(0)).unwrap();
        log.commit().unwrap();
    }
    let db = sled::open(dir.path().join("db")).unwrap();
    let log = AuditLog::open(&db, None, AuditConfig::default()).unwrap();
    assert_eq!(log.get(0).unwrap().unwrap().seq, 0);
    log.append(rec(1)).unwrap();
    log.commit().unwrap();
    assert_eq!(log.heads().unwrap().len(), 1, "no new head without the key");
    assert!(matches!(log.checkpoint(), Err(AuditError::NoKey)));
}

#[test]
fn keys_are_owner_only_and_refused_otherwise() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k/audit.key");
    let k = LogKey::create(&path).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(LogKey::create(&path).is_err(), "never overwrites a key");
    assert_eq!(LogKey::load(&path).unwrap().public(), k.public());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = LogKey::load(&path).unwrap_err().to_string();
    assert!(e.contains("accessible to others (mode 644)"), "{e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&path, "not hex\n").unwrap();
    assert!(LogKey::load(&path).unwrap_err().to_string().contains("not a hex"));
    let hexkey = k.public().to_hex();
    assert_eq!(PublicKey::from_hex(&format!("{hexkey}\n")).unwrap(), k.public());
    assert!(PublicKey::from_hex("abcd").is_err());
}

#[test]
fn a_foreign_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    db.open_tree(TREE).unwrap().insert("x", "y").unwrap();
    let e = AuditLog::open(&db, None, AuditConfig::default()).unwrap_err();
    assert!(matches!(e, AuditError::Corrupt(_)), "{e}");
}

#[test]
fn a_store_of_the_older_format_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let tree = db.open_tree(TREE).unwrap();
    // Format 1: one key per entry.
    tree.insert("m:format", "eigenbox-audit/1").unwrap();
    tree.insert("m:size", &1u64.to_be_bytes()).unwrap();
    let mut k = vec![b'e'];
    k.extend_from_slice(&0u64.to_be_bytes());
    tree.insert(k, vec![0u8; 40]).unwrap();
    match AuditLog::open(&db, None, AuditConfig::default()) {
        Err(e @ AuditError::Format { .. }) => {
            let AuditError::Format { found, expected } = &e else { unreachable!() };
            assert_eq!((found.as_str(), expected.as_str()), ("eigenbox-audit/1", FORMAT));
            assert!(e.to_string().contains("eigenbox-audit/1") && e.to_string().contains(FORMAT), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(tree.get("m:format").unwrap().unwrap().as_ref(), b"eigenbox-audit/1", "left as it was");
}

#[test]
fn a_large_commit_spans_chunks_and_reads_back_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut leaves = MemoryTree::new();
    {
        let (db, log, public) = open(dir.path(), AuditConfig { batch: usize::MAX, ..AuditConfig::default() });
        for i in 0..700 {
            log.append(rec(i)).unwrap();
        }
        assert_eq!(log.commit().unwrap(), 700);
        let tree = db.open_tree(TREE).unwrap();
        let firsts: Vec<u64> = tree.scan_prefix([store::CHUNK_PREFIX]).keys().map(|k| store::chunk_first(&k.unwrap()).unwrap()).collect();
        assert!(firsts.len() > 1 && firsts[0] == 0, "{firsts:?}");
        for i in 0..700 {
            let raw = log.raw(i).unwrap().unwrap();
            leaves.push(merkle::leaf_hash(&raw));
            assert_eq!(log.get(i).unwrap().unwrap(), Record { seq: i, ..rec(i) });
        }
        assert_eq!(log.check(Some(&public)).unwrap(), 700);
        // Reading from inside a chunk, and across the chunk boundaries.
        for from in [0, 1, firsts[1] - 1, firsts[1], firsts[1] + 3, 699, 700] {
            let seqs: Vec<u64> = log.iter(from).map(|r| r.unwrap().seq).collect();
            assert_eq!(seqs, (from..700).collect::<Vec<_>>(), "from {from}");
        }
        let head = log.latest_head().unwrap().unwrap();
        let root: merkle::Hash = hex::decode(&head.root).unwrap().try_into().unwrap();
        for seq in [0, firsts[1] - 1, firsts[1], 511, 512, 699] {
            let proof = log.inclusion_proof(seq, 700).unwrap();
            assert_eq!(root, leaves.root(700));
            assert!(verify_inclusion(seq, 700, &merkle::leaf_hash(&log.raw(seq).unwrap().unwrap()), &proof, &root), "seq {seq}");
            assert!(!verify_inclusion(seq, 700, &merkle::leaf_hash(b"forged"), &proof, &root), "seq {seq}");
        }
    }
    // Reopened: the frontier comes back from the chunks, and appends go on.
    let (_db, log, public) = open(dir.path(), AuditConfig::default());
    assert_eq!((log.size(), log.root()), (700, leaves.root(700)));
    assert_eq!(log.append(rec(700)).unwrap(), 700);
    log.commit().unwrap();
    assert_eq!(log.check(Some(&public)).unwrap(), 701);
    assert_eq!(log.iter(699).map(|r| r.unwrap().seq).collect::<Vec<_>>(), vec![699, 700]);
}

#[test]
fn filters_select_records() {
    let r = rec(3);
    assert!(Filter::default().matches(&r));
    assert!(Filter { episode: Some("ep-0".into()), ..Filter::default() }.matches(&r));
    assert!(!Filter { episode: Some("ep-1".into()), ..Filter::default() }.matches(&r));
    assert!(Filter { tool: Some("tool_3".into()), ..Filter::default() }.matches(&r));
    assert!(Filter { tool: Some("mock/tool_3".into()), ..Filter::default() }.matches(&r));
    assert!(Filter { allow: Some(false), component: Some("acme:sim".into()), ..Filter::default() }.matches(&r));
    assert!(!Filter { allow: Some(true), ..Filter::default() }.matches(&r));
    assert!(Filter { since_ms: Some(r.time_ms), until_ms: Some(r.time_ms + 1), ..Filter::default() }.matches(&r));
    assert!(!Filter { until_ms: Some(r.time_ms), ..Filter::default() }.matches(&r));
}
