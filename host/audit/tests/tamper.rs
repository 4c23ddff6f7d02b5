//! Offline verification of exports, and what it says about each kind of tampering.

use eigenbox_audit::*;

fn rec(i: u64) -> Record {
    let decision = DecisionRecord { allow: true, rules: vec!["agents-read".into()], policy_hash: "ab".repeat(32), reason: "allowed".into() };
    let actor = Actor { component: "assistant".into(), role: Some("assistant".into()), ..Actor::default() };
    let mut r = Record::new(actor, ActionKind::Tool, "mock/get_users", decision, Outcome::Ok).with_args(&format!("{{\"n\": {i}}}")).with_result("[]");
    r.episode = Some(format!("ep-{}", i % 3));
    r.time_ms = 1_700_000_000_000 + i;
    r
}

/// A log of 20 entries with heads at 5, 12 and 20; its export lines; the auditor's key.
fn exported(key: &str) -> (tempfile::TempDir, Vec<String>, PublicKey, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let key = LogKey::create(&dir.path().join(key)).unwrap();
    let public = key.public();
    let log = AuditLog::open(&db, Some(key), AuditConfig { batch: 1000, ..AuditConfig::default() }).unwrap();
    for i in 0..20 {
        log.append(rec(i)).unwrap();
        if i == 4 || i == 11 || i == 19 {
            log.commit().unwrap();
        }
    }
    let mut out = Vec::new();
    export(&log, &Filter::default(), &mut out).unwrap();
    let lines = String::from_utf8(out).unwrap().lines().map(str::to_string).collect();
    (dir, lines, public, log)
}

fn verify(lines: &[String], key: &PublicKey) -> Result<Verified, Failure> {
    let text = lines.join("\n");
    verify_export(&mut text.as_bytes(), key, None)
}

/// Index of the line holding entry `seq` (header, then 3 heads, then entries).
fn entry_line(seq: usize) -> usize {
    4 + seq
}

fn edit(line: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
    f(&mut v);
    v.to_string()
}

#[test]
fn an_intact_export_verifies() {
    let (_d, lines, key, _) = exported("k");
    assert_eq!(lines.len(), 24);
    let v = verify(&lines, &key).unwrap();
    assert_eq!((v.entries, v.heads, v.size, v.complete), (20, 3, 20, true));
    // Whitespace and key order inside a line do not matter: the record is what is signed.
    let pretty: Vec<String> = lines.iter().map(|l| serde_json::to_string(&serde_json::from_str::<serde_json::Value>(l).unwrap()).unwrap()).collect();
    assert!(verify(&pretty, &key).is_ok());
}

#[test]
fn an_edited_entry_is_named() {
    let (_d, mut lines, key, _) = exported("k");
    lines[entry_line(7)] = edit(&lines[entry_line(7)], |v| v["record"]["outcome"] = "denied".into());
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!((f.seq, f.line), (Some(7), entry_line(7) + 1), "{f}");
    assert!(f.message.contains("leaf hash"), "{f}");

    // Edited, with its leaf hash recomputed to match: the audit path to the signed root fails.
    let (_d, mut lines, key, _) = exported("k");
    lines[entry_line(13)] = edit(&lines[entry_line(13)], |v| {
        v["record"]["target"] = "mock/delete_everything".into();
        let rec: Record = serde_json::from_value(v["record"].clone()).unwrap();
        v["leaf_hash"] = hex::encode(merkle::leaf_hash(&rec.canonical())).into();
    });
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(13), "{f}");
    assert!(f.message.contains("not in the signed tree of size 20"), "{f}");

    // Edited, with proof removed: the recomputed root does not match the head.
    let (_d, mut lines, key, _) = exported("k");
    lines[entry_line(2)] = edit(&lines[entry_line(2)], |v| {
        v["record"]["args"] = "{\"n\": 999}".into();
        let rec: Record = serde_json::from_value(v["record"].clone()).unwrap();
        v["leaf_hash"] = hex::encode(merkle::leaf_hash(&rec.canonical())).into();
        v["proof"] = serde_json::Value::Null;
    });
    let f = verify(&lines, &key).unwrap_err();
    assert!(f.message.contains("do not give the root of the signed head at size 5"), "{f}");
}

#[test]
fn a_deleted_entry_is_named() {
    let (_d, mut lines, key, _) = exported("k");
    lines.remove(entry_line(9));
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(9), "{f}");
    assert!(f.message.contains("missing"), "{f}");
}

#[test]
fn reordered_entries_are_named() {
    let (_d, mut lines, key, _) = exported("k");
    lines.swap(entry_line(3), entry_line(4));
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(3), "{f}");
    // Renumbered to hide the swap: the records still carry their own seq.
    let (_d, mut lines, key, _) = exported("k");
    lines.swap(entry_line(3), entry_line(4));
    lines[entry_line(3)] = edit(&lines[entry_line(3)], |v| v["seq"] = 3.into());
    lines[entry_line(4)] = edit(&lines[entry_line(4)], |v| v["seq"] = 4.into());
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(3), "{f}");
    assert!(f.message.contains("record says seq 4"), "{f}");
}

#[test]
fn an_inserted_entry_is_named() {
    let (_d, mut lines, key, _) = exported("k");
    let dup = lines[entry_line(6)].clone();
    lines.insert(entry_line(7), dup);
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(6), "{f}");
    assert!(f.message.contains("appears again"), "{f}");
    // A made-up entry at the end: no signed head covers it.
    let (_d, mut lines, key, _) = exported("k");
    let mut fake = rec(20);
    fake.seq = 20;
    lines.push(serde_json::to_string(&Line::Entry { seq: 20, leaf_hash: hex::encode(merkle::leaf_hash(&fake.canonical())), record: fake, proof: None }).unwrap());
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(20), "{f}");
    assert!(f.message.contains("not covered by any signed head"), "{f}");
}

#[test]
fn truncation_is_named_and_a_kept_head_catches_a_cut_back_export() {
    let (_d, mut lines, key, log) = exported("k");
    lines.truncate(entry_line(17));
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(17), "{f}");
    assert!(f.message.contains("truncated"), "{f}");

    // Cut back to the head at 12, dropping the later head too: self-consistent...
    let (_d, lines, key, log2) = exported("k");
    let mut cut: Vec<String> = lines[..3].to_vec(); // header + heads at 5 and 12
    cut.extend_from_slice(&lines[entry_line(0)..entry_line(12)]);
    // (proofs lead to size 20; recompute them for 12 as a forger would)
    for seq in 0..12usize {
        cut[3 + seq] = edit(&cut[3 + seq], |v| v["proof"] = serde_json::to_value(InclusionProof { tree_size: 12, path: log2.inclusion_proof(seq as u64, 12).unwrap().iter().map(hex::encode).collect() }).unwrap());
    }
    assert!(verify(&cut, &key).is_ok(), "without outside knowledge a cut at a signed head looks whole");
    // ...but not to an auditor who kept the head at 20.
    let kept = log2.latest_head().unwrap().unwrap();
    let text = cut.join("\n");
    let f = verify_export(&mut text.as_bytes(), &key, Some(&kept)).unwrap_err();
    assert!(f.message.contains("before the trusted head at size 20"), "{f}");
    assert_eq!(f.seq, Some(12), "{f}");
    drop(log);
}

#[test]
fn a_swapped_or_edited_signed_head_is_named() {
    let (_d, mut lines, key, _) = exported("k");
    // Swap the roots of the heads at 5 and 12.
    let r5 = serde_json::from_str::<serde_json::Value>(&lines[1]).unwrap()["head"]["root"].clone();
    let r12 = serde_json::from_str::<serde_json::Value>(&lines[2]).unwrap()["head"]["root"].clone();
    lines[1] = edit(&lines[1], |v| v["head"]["root"] = r12);
    lines[2] = edit(&lines[2], |v| v["head"]["root"] = r5);
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!((f.line, f.seq), (2, None), "{f}");
    assert!(f.message.contains("signed head at size 5 does not verify"), "{f}");
    // Swap whole head lines: each signature is fine, the order is not.
    let (_d, mut lines, key, _) = exported("k");
    lines.swap(1, 2);
    let f = verify(&lines, &key).unwrap_err();
    assert!(f.message.contains("comes after"), "{f}");
    // A head from another log with the same key: its root is not these entries'.
    let (_d, mut lines, key, log) = exported("k");
    let (_d2, other, _, _) = exported("k2");
    let _ = other;
    let mut head = log.latest_head().unwrap().unwrap();
    head.time_ms += 1;
    lines[3] = edit(&lines[3], |v| v["head"] = serde_json::to_value(&head).unwrap());
    let f = verify(&lines, &key).unwrap_err();
    assert!(f.message.contains("size 20 does not verify"), "{f}");
}

#[test]
fn a_replaced_key_is_named() {
    // An attacker rebuilds the same log under their own key and ships their public key in the header.
    let (_d, lines, key, _) = exported("k");
    let (_d2, forged, forger_key, _) = exported("forger.key");
    assert_ne!(key, forger_key);
    assert!(verify(&forged, &forger_key).is_ok(), "consistent under the forger's key");
    let f = verify(&forged, &key).unwrap_err();
    assert_eq!(f.line, 2, "{f}");
    assert!(f.message.contains(&format!("the given key is {}", key.key_id())), "{f}");
    assert!(verify(&lines, &key).is_ok());
}

#[test]
fn malformed_and_headless_exports_are_refused() {
    let (_d, mut lines, key, _) = exported("k");
    lines[entry_line(4)] = "{\"type\":\"entry\",\"seq\":4, oops".into();
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!((f.line, f.seq), (entry_line(4) + 1, None), "{f}");
    assert!(f.message.contains("malformed"), "{f}");
    let (_d, mut lines, key, _) = exported("k");
    lines.drain(1..4);
    let f = verify(&lines, &key).unwrap_err();
    assert!(f.message.contains("no signed tree head"), "{f}");
    let f = verify(&[], &key).unwrap_err();
    assert!(f.message.contains("empty"), "{f}");
}

#[test]
fn a_filtered_export_verifies_by_proofs() {
    let (_d, _, key, log) = exported("k");
    let mut out = Vec::new();
    let s = export(&log, &Filter { episode: Some("ep-1".into()), ..Filter::default() }, &mut out).unwrap();
    assert_eq!(s.entries, 7);
    let v = verify_export(&mut out.as_slice(), &key, None).unwrap();
    assert_eq!((v.entries, v.complete), (7, false));
    let mut lines: Vec<String> = String::from_utf8(out).unwrap().lines().map(str::to_string).collect();
    let n = lines.len();
    lines[n - 1] = edit(&lines[n - 1], |v| {
        v["record"]["outcome"] = "denied".into();
        let rec: Record = serde_json::from_value(v["record"].clone()).unwrap();
        v["leaf_hash"] = hex::encode(merkle::leaf_hash(&rec.canonical())).into();
    });
    let f = verify(&lines, &key).unwrap_err();
    assert_eq!(f.seq, Some(19), "{f}");
}

/// A store of 10 entries committed in two chunks, entries 0..=3 and 4..=9, with heads at 4 and 10.
fn stored() -> (tempfile::TempDir, sled::Db, AuditLog, PublicKey, sled::Tree) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path().join("db")).unwrap();
    let key = LogKey::create(&dir.path().join("k")).unwrap();
    let public = key.public();
    let log = AuditLog::open(&db, Some(key), AuditConfig::default()).unwrap();
    for i in 0..10 {
        log.append(rec(i)).unwrap();
        if i == 3 {
            log.commit().unwrap();
        }
    }
    log.commit().unwrap();
    assert_eq!(log.check(Some(&public)).unwrap(), 10);
    let tree = db.open_tree(TREE).unwrap();
    assert_eq!(tree.scan_prefix([store::CHUNK_PREFIX]).keys().map(|k| store::chunk_first(&k.unwrap()).unwrap()).collect::<Vec<_>>(), vec![0, 4], "one chunk per commit");
    (dir, db, log, public, tree)
}

/// The entries of the chunk starting at `first`.
fn entries(tree: &sled::Tree, first: u64) -> Vec<Vec<u8>> {
    let v = tree.get(store::chunk_key(first)).unwrap().unwrap();
    store::decode_chunk(first, &v).unwrap().into_iter().map(<[u8]>::to_vec).collect()
}

fn put(tree: &sled::Tree, first: u64, entries: &[Vec<u8>]) {
    tree.insert(store::chunk_key(first), store::encode_chunk(entries.iter().map(Vec::as_slice)).unwrap()).unwrap();
}

/// The entry `check` blames, and its message.
fn blamed(log: &AuditLog, public: &PublicKey) -> (u64, String) {
    match log.check(Some(public)) {
        Err(AuditError::Tampered { seq: Some(seq), message }) => (seq, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tampering_inside_the_store_is_found_by_check() {
    // Edited in place: the record no longer matches its stored leaf hash.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    let at = es[2].windows(14).position(|w| w == b"mock/get_users").unwrap();
    es[2][at + 13] = b'z';
    put(&tree, 4, &es);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 6, "{message}");
    assert!(message.contains("stored hashes"), "{message}");

    // Edited with its stored leaf hash recomputed: the node hashes above it no longer match.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    let (hashes, raw) = store::split_entry(&es[1]).unwrap();
    let mut r: Record = serde_json::from_slice(raw).unwrap();
    r.target = "mock/delete_everything".into();
    let raw = r.canonical();
    let k = hashes.len() / 32 - 1;
    let nodes: Vec<merkle::Hash> = hashes[32..].chunks(32).map(|c| c.try_into().unwrap()).collect();
    assert_eq!(k, 1, "entry 5 completes the subtree 4..6");
    es[1] = store::entry_value(&merkle::leaf_hash(&raw), &nodes, &raw);
    put(&tree, 4, &es);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 5, "{message}");

    // Deleted from the middle of a chunk: the next entry now sits in its place.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    es.remove(2);
    put(&tree, 4, &es);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 6, "{message}");
    assert!(message.contains("another seq"), "{message}");

    // Reordered inside a chunk.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    es.swap(1, 2);
    put(&tree, 4, &es);
    assert_eq!(blamed(&log, &public).0, 5);

    // Inserted: a copy of entry 2 after it, and a made-up entry past the end.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 0);
    es.insert(3, es[2].clone());
    put(&tree, 0, &es);
    assert_eq!(blamed(&log, &public).0, 3);
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    es.push(es[5].clone());
    put(&tree, 4, &es);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 10, "{message}");
    assert!(message.contains("past the 10 committed"), "{message}");

    // Truncated: the last entries of a chunk, or a whole chunk.
    let (_d, _db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    es.truncate(3);
    put(&tree, 4, &es);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 7, "{message}");
    assert!(message.contains("missing"), "{message}");
    assert!(matches!(log.get(8), Err(AuditError::Corrupt(ref m)) if m.contains("entry 8 is missing")), "{:?}", log.get(8));
    let (_d, _db, log, public, tree) = stored();
    tree.remove(store::chunk_key(4)).unwrap();
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 4, "{message}");
    assert!(matches!(log.get(5), Err(AuditError::Corrupt(_))), "{:?}", log.get(5));

    // Truncated together with the size record: the signed head at 10 gives it away on reopening.
    let (dir, db, log, public, tree) = stored();
    let mut es = entries(&tree, 4);
    es.truncate(3);
    put(&tree, 4, &es);
    tree.insert(b"m:size", &7u64.to_be_bytes()).unwrap();
    drop(log);
    let log = AuditLog::open(&db, Some(LogKey::load(&dir.path().join("k")).unwrap()), AuditConfig::default()).unwrap();
    assert_eq!(log.committed(), 7);
    let (seq, message) = blamed(&log, &public);
    assert_eq!(seq, 7, "{message}");
    assert!(message.contains("a signed head covers 10 entries"), "{message}");

    // Moved: the second chunk stored as if it began at entry 5.
    let (_d, _db, log, public, tree) = stored();
    let v = tree.remove(store::chunk_key(4)).unwrap().unwrap();
    tree.insert(store::chunk_key(5), v).unwrap();
    assert_eq!(blamed(&log, &public).0, 4);
}

/// A way to damage a chunk's bytes.
type Damage = fn(&mut Vec<u8>);

#[test]
fn a_corrupt_chunk_is_a_typed_error_naming_its_entries() {
    let corruptions: Vec<(&str, Damage)> = vec![
        ("a length prefix past the end", |v: &mut Vec<u8>| {
            // The second entry's length prefix: after the count and the first entry.
            let first_len = u32::from_be_bytes(v[4..8].try_into().unwrap()) as usize;
            v[8 + first_len..12 + first_len].copy_from_slice(&u32::MAX.to_be_bytes());
        }),
        ("a length prefix too short for the hashes", |v: &mut Vec<u8>| v[4..8].copy_from_slice(&3u32.to_be_bytes())),
        ("truncated in an entry", |v: &mut Vec<u8>| v.truncate(v.len() - 10)),
        ("truncated at an entry boundary", |v: &mut Vec<u8>| {
            let first_len = u32::from_be_bytes(v[4..8].try_into().unwrap()) as usize;
            v.truncate(8 + first_len);
        }),
        ("bytes after the last entry", |v: &mut Vec<u8>| v.extend_from_slice(b"xyz")),
        ("a count larger than the entries", |v: &mut Vec<u8>| v[..4].copy_from_slice(&1_000_000u32.to_be_bytes())),
    ];
    for (what, corrupt) in corruptions {
        let (dir, db, log, public, tree) = stored();
        let mut v = tree.get(store::chunk_key(4)).unwrap().unwrap().to_vec();
        corrupt(&mut v);
        tree.insert(store::chunk_key(4), v).unwrap();
        let named = |e: AuditError| match e {
            AuditError::Corrupt(m) if m.contains("entries 4..=9") || m.contains("entries from 4") => m,
            other => panic!("{what}: {other:?}"),
        };
        named(log.get(6).unwrap_err());
        named(log.raw(4).unwrap_err());
        named(log.check(Some(&public)).unwrap_err());
        named(log.iter(0).collect::<Result<Vec<_>, _>>().unwrap_err());
        named(log.inclusion_proof(0, 10).unwrap_err());
        named(export(&log, &Filter::default(), &mut Vec::new()).unwrap_err());
        // The first chunk still reads.
        assert_eq!(log.get(3).unwrap().unwrap().seq, 3, "{what}");
        assert_eq!(log.iter(0).take(4).map(|r| r.unwrap().seq).collect::<Vec<_>>(), vec![0, 1, 2, 3], "{what}");
        drop(log);
        // Reopening needs the frontier, which lives in the corrupt chunk: refused, typed.
        named(AuditLog::open(&db, Some(LogKey::load(&dir.path().join("k")).unwrap()), AuditConfig::default()).unwrap_err());
    }
    // A chunk too short to hold its count.
    let (_d, _db, log, _, tree) = stored();
    tree.insert(store::chunk_key(4), &[0u8, 0][..]).unwrap();
    match log.get(5) {
        Err(AuditError::Corrupt(m)) => assert!(m.contains("from 4"), "{m}"),
        other => panic!("{other:?}"),
    }
}
