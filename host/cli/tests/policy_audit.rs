//! `eigenbox policy ...` and `eigenbox audit ...` end to end, on a store written through the
//! audit library the way the host writes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use eigenbox_audit::{ActionKind, Actor, AuditConfig, AuditLog, DecisionRecord, LogKey, Outcome, Record};
use eigenbox_tests::workspace_root;

fn eigenbox(args: &[&str], store: &Path) -> Output {
    let bin = env!("CARGO_BIN_EXE_eigenbox");
    Command::new(bin).args(args).env("EIGENBOX_STORE", store).env_remove("EIGENBOX_AUDIT_KEY").env_remove("RUST_LOG").output().unwrap_or_else(|e| panic!("{bin}: {e}"))
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn policy_dir() -> PathBuf {
    workspace_root().join("config/policy")
}

#[test]
fn policy_check_accepts_the_shipped_policies_and_locates_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    for f in ["default.cedar", "examples/strict.cedar"] {
        let o = eigenbox(&["policy", "check", policy_dir().join(f).to_str().unwrap()], &store);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{f}: {err}");
        assert!(out.starts_with("ok: "), "{out}");
    }
    let o = eigenbox(&["policy", "check", policy_dir().join("examples/strict.cedar").to_str().unwrap()], &store);
    assert!(text(&o).0.contains("write-needs-confirmation"));

    let bad = dir.path().join("bad.cedar");
    std::fs::write(&bad, "@id(\"ok\")\npermit(principal, action, resource);\n\n@id(\"oops\")\nforbid(principal, action == Eigenbox::Action::\"tool-write\", resource)\n  when { context.args has user_id && context.args.user == \"x\" };\n").unwrap();
    let o = eigenbox(&["policy", "check", bad.to_str().unwrap()], &store);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("{}:6:", bad.display())), "{err}");
    assert!(err.contains("rule `oops`"), "{err}");

    std::fs::write(&bad, "permit(principal, action, resource)\nwhen { context.x ==  };\n").unwrap();
    let o = eigenbox(&["policy", "check", bad.to_str().unwrap()], &store);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.starts_with(&format!("syntax error: {}:2:", bad.display())), "{err}");

    let o = eigenbox(&["policy", "schema"], &store);
    assert!(text(&o).0.contains("namespace Eigenbox"));
}

fn rec(i: u64) -> Record {
    let allow = i % 4 != 3;
    let decision = DecisionRecord { allow, rules: vec![if allow { "agents-read".into() } else { "write-needs-confirmation".into() }], policy_hash: "ab".repeat(32), reason: "r".into() };
    let actor = Actor { component: if i.is_multiple_of(2) { "assistant".into() } else { "acme:sim".into() }, role: None, ..Actor::default() };
    let mut r = Record::new(actor, ActionKind::Tool, format!("mock/{}", if allow { "get_users" } else { "create_task" }), decision, if allow { Outcome::Ok } else { Outcome::Denied }).with_args("{}");
    r.episode = Some(format!("ep-{}", i / 5));
    r.run = Some("run-000001".into());
    r.time_ms = 1_700_000_000_000 + i * 1000;
    r
}

/// A store with 12 records under heads at 6 and 12, written with the key `audit init` created.
fn populated(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    let o = eigenbox(&["audit", "init"], &store);
    assert!(o.status.success(), "{}", text(&o).1);
    assert!(text(&o).0.contains("public key "));
    {
        let s = eigenbox_store::Store::open(&store).unwrap();
        let key = LogKey::load(&store.join("audit.key")).unwrap();
        let log = AuditLog::open(s.db(), Some(key), AuditConfig::default()).unwrap();
        for i in 0..12 {
            log.append(rec(i)).unwrap();
            if i == 5 || i == 11 {
                log.commit().unwrap();
            }
        }
    }
    store
}

#[test]
fn audit_show_filters_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(dir.path());
    let o = eigenbox(&["audit", "show"], &store);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(out.lines().count(), 12);
    assert!(err.contains("12 of 12 record(s)"), "{err}");
    assert!(out.lines().nth(3).unwrap().contains("DENY"), "{out}");
    let count = |args: &[&str]| {
        let mut a = vec!["audit", "show", "--json"];
        a.extend_from_slice(args);
        let o = eigenbox(&a, &store);
        assert!(o.status.success(), "{}", text(&o).1);
        let out = text(&o).0;
        for l in out.lines() {
            serde_json::from_str::<Record>(l).unwrap();
        }
        out.lines().count()
    };
    assert_eq!(count(&["--decision", "deny"]), 3);
    assert_eq!(count(&["--decision", "allow", "--component", "acme:sim"]), 3);
    assert_eq!(count(&["--episode", "ep-1"]), 5);
    assert_eq!(count(&["--tool", "create_task"]), 3);
    assert_eq!(count(&["--run", "run-000001", "--limit", "2"]), 2);
    assert_eq!(count(&["--since", "1700000005", "--until", "2023-11-14T22:13:28Z"]), 3);
    let o = eigenbox(&["audit", "show", "--since", "last tuesday"], &store);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn audit_export_verify_and_tamper() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(dir.path());
    let pubfile = dir.path().join("audit.pub");
    let o = eigenbox(&["audit", "pubkey", "--out", pubfile.to_str().unwrap()], &store);
    assert!(o.status.success(), "{}", text(&o).1);
    let export = dir.path().join("audit.jsonl");
    let o = eigenbox(&["audit", "export", "--out", export.to_str().unwrap()], &store);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = eigenbox(&["audit", "verify", export.to_str().unwrap(), "--public-key", pubfile.to_str().unwrap()], &store);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.starts_with("verified: 12 entries (complete log"), "{out}");

    // Edit one entry's outcome.
    let original = std::fs::read_to_string(&export).unwrap();
    let tampered: Vec<String> = original.lines().map(|l| if l.contains("\"seq\":6,") { l.replacen("\"outcome\":\"ok\"", "\"outcome\":\"denied\"", 1) } else { l.to_string() }).collect();
    assert!(tampered.join("\n") != original.trim_end(), "the edit must change the export");
    std::fs::write(&export, tampered.join("\n")).unwrap();
    let o = eigenbox(&["audit", "verify", export.to_str().unwrap(), "--public-key", pubfile.to_str().unwrap()], &store);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("first bad entry: 6"), "{err}");

    // A filtered export verifies by inclusion proofs.
    let o = eigenbox(&["audit", "export", "--episode", "ep-1", "--out", export.to_str().unwrap()], &store);
    assert!(o.status.success());
    let o = eigenbox(&["audit", "verify", export.to_str().unwrap(), "--public-key", &std::fs::read_to_string(&pubfile).unwrap()], &store);
    assert!(text(&o).0.contains("verified: 5 entries (filtered"), "{:?}", text(&o));

    // Another key does not verify it.
    let other = dir.path().join("other.key");
    let k = LogKey::create(&other).unwrap();
    let o = eigenbox(&["audit", "verify", export.to_str().unwrap(), "--public-key", &k.public().to_hex()], &store);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("does not verify with the given public key"), "{}", text(&o).1);
}

#[test]
fn audit_prove_consistency_head_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = populated(dir.path());
    let o = eigenbox(&["audit", "prove", "4"], &store);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((v["tree_size"].as_u64(), v["verified"].as_bool()), (Some(12), Some(true)));
    assert_eq!(v["path"].as_array().unwrap().len(), 4);
    assert_eq!(v["root"], v["signed_head"]["root"]);
    let o = eigenbox(&["audit", "prove", "4", "--size", "6"], &store);
    assert!(o.status.success(), "{}", text(&o).1);
    let o = eigenbox(&["audit", "prove", "40"], &store);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no entry 40"), "{}", text(&o).1);

    let o = eigenbox(&["audit", "consistency", "6", "12"], &store);
    let v: serde_json::Value = serde_json::from_str(&text(&o).0).unwrap();
    assert_eq!(v["verified"].as_bool(), Some(true));
    let o = eigenbox(&["audit", "consistency", "12", "6"], &store);
    assert_eq!(o.status.code(), Some(2));

    let o = eigenbox(&["audit", "head"], &store);
    let head: eigenbox_audit::SignedTreeHead = serde_json::from_str(text(&o).0.trim()).unwrap();
    assert_eq!(head.size, 12);
    let o = eigenbox(&["audit", "check"], &store);
    assert!(text(&o).0.contains("ok: 12 entries and 2 signed head(s)"), "{:?}", text(&o));

    // A key others can read is refused, naming the fix.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(store.join("audit.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = eigenbox(&["audit", "check"], &store);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("chmod 600"), "{}", text(&o).1);
}
