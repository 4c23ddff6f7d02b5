//! kill -9 in the middle of a burst of appends: everything acknowledged survives, and the
//! reopened log verifies.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use eigenbox_audit::*;

const DIR_VAR: &str = "EIGENBOX_AUDIT_CRASH_DIR";

fn rec(i: u64) -> Record {
    let decision = DecisionRecord { allow: true, rules: vec!["r".into()], policy_hash: "cd".repeat(32), reason: "ok".into() };
    Record::new(Actor { component: "writer".into(), ..Actor::default() }, ActionKind::Tool, "mock/create_task", decision, Outcome::Ok).with_args(&format!("{{\"i\": {i}}}"))
}

/// The child: appends forever, committing every 64, printing what each commit acknowledged.
/// Run by the parent below (`--ignored --exact crash_child`), never on its own.
#[test]
#[ignore = "the writer process of kill_9_during_appends_loses_nothing_acknowledged"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else { return };
    let dir = std::path::PathBuf::from(dir);
    let db = sled::open(dir.join("db")).expect("open db");
    let key = LogKey::load_or_create(&dir.join("audit.key")).expect("key");
    let log = AuditLog::open(&db, Some(key), AuditConfig { batch: usize::MAX, head_every: 1, ..AuditConfig::default() }).expect("open log");
    let mut i = log.size();
    loop {
        for _ in 0..64 {
            log.append(rec(i)).expect("append");
            i += 1;
        }
        let acked = log.commit().expect("commit");
        println!("acked {acked}");
    }
}

fn run_and_kill(dir: &std::path::Path, after_acks: usize) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(DIR_VAR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut last = 0u64;
    let mut seen = 0;
    let started = Instant::now();
    let mut line = String::new();
    while seen < after_acks && started.elapsed() < Duration::from_secs(60) {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(n) = line.trim().strip_prefix("acked ") {
            last = n.parse().unwrap();
            seen += 1;
        }
    }
    // SIGKILL while it is in the middle of the next batch (or its commit).
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen >= after_acks, "the writer acknowledged only {seen} commits");
    last
}

#[test]
fn kill_9_during_appends_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked = 0;
    for round in [5usize, 1, 12] {
        acked = run_and_kill(dir.path(), round);
        let db = sled::open(dir.path().join("db")).unwrap();
        let key = LogKey::load(&dir.path().join("audit.key")).unwrap();
        let public = key.public();
        let log = AuditLog::open(&db, Some(key), AuditConfig::default()).unwrap();
        assert!(log.committed() >= acked, "round {round}: {} entries after reopening, {acked} were acknowledged", log.committed());
        assert_eq!(log.committed() % 64, 0, "a commit is all or nothing");
        for seq in [0, acked - 1] {
            assert_eq!(log.get(seq).unwrap().unwrap().args.unwrap(), format!("{{\"i\": {seq}}}"));
        }
        assert_eq!(log.check(Some(&public)).unwrap(), log.committed());
        log.checkpoint().unwrap();
        let mut out = Vec::new();
        export(&log, &Filter::default(), &mut out).unwrap();
        let v = verify_export(&mut out.as_slice(), &public, None).unwrap();
        assert_eq!(v.entries, log.committed());
    }
    assert!(acked > 0);
}
