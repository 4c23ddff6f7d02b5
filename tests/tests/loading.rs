//! Bad components give clear errors at load: wrong world, tampered bytes, malformed
//! manifests, core modules, garbage. Checkers run as pure functions.

use eigenbox_manifest::ManifestError;
use eigenbox_runtime::{CheckInput, CheckerInstance, LoadError, Message, MessageRole, Runtime, RuntimeConfig};
use eigenbox_tests::{guest_wasm, manifest, runtime, CHECKER, DOMAIN, ROLE};

#[test]
fn a_component_of_another_world_names_the_missing_export() {
    let wasm = guest_wasm("eigenbox_guest_wrong_world");
    let err = runtime("").load(manifest("test:w", DOMAIN, &wasm, "", ""), &wasm).unwrap_err();
    assert!(matches!(err, LoadError::WorldMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("missing export `eigenbox:domain/domain@0.1.0`"), "{text}");
    assert!(text.contains("eigenbox:checker/checker@0.1.0"), "should say what it exports instead: {text}");
}

#[test]
fn an_export_with_the_wrong_types_is_refused_at_load_by_name() {
    let wasm = guest_wasm("eigenbox_guest_mismatch");
    let err = runtime("").load(manifest("test:old", DOMAIN, &wasm, "", ""), &wasm).unwrap_err();
    assert!(matches!(err, LoadError::WorldMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("eigenbox:domain/domain@0.1.0"), "{text}");
    assert!(text.contains("export `eigenbox:domain/domain@0.1.0#info` has the wrong type"), "should name the mismatched function: {text}");
}

#[test]
fn a_role_built_against_the_older_llm_records_is_refused_as_such() {
    // Built against `eigenbox:role@0.1.0` before `chat-request.logprobs` / `chat-response.tokens`.
    let wasm = guest_wasm("eigenbox_guest_old_role");
    let err = runtime("").load(manifest("test:old-role", ROLE, &wasm, "", ""), &wasm).unwrap_err();
    assert!(matches!(err, LoadError::WorldMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("built against an older"), "should say the WIT is older: {text}");
    assert!(text.contains("eigenbox:role/llm@0.1.0"), "should name the import: {text}");
    assert!(text.contains("rebuild it against this eigenbox's wit/"), "{text}");
}

#[test]
fn a_domain_cannot_import_role_interfaces() {
    let wasm = guest_wasm("eigenbox_guest_probe_role");
    let err = runtime("").load(manifest("test:p", DOMAIN, &wasm, "", ""), &wasm).unwrap_err();
    match &err {
        LoadError::UnsupportedImport { import, .. } => assert!(import.starts_with("eigenbox:role/"), "{err}"),
        other => panic!("expected an unsupported import, got {other}"),
    }
    // Loaded as what it is, it is fine.
    runtime("").load(manifest("test:p", ROLE, &wasm, "", ""), &wasm).unwrap();
}

#[test]
fn tampered_wasm_is_refused() {
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let m = manifest("test:hostile", DOMAIN, &wasm, "", "");
    let mut tampered = wasm.clone();
    let n = tampered.len() / 2;
    tampered[n] ^= 0x01;
    let err = runtime("").load(m, &tampered).unwrap_err();
    assert!(matches!(err, LoadError::Manifest(ManifestError::HashMismatch { .. })), "{err}");
    assert!(err.to_string().contains("tampered"));
}

#[test]
fn non_components_are_refused_with_an_explanation() {
    // A core module (the 8-byte header of an empty one).
    let core = b"\0asm\x01\0\0\0".to_vec();
    let err = runtime("").load(manifest("test:core", DOMAIN, &core, "", ""), &core).unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent { .. }), "{err}");
    assert!(err.to_string().contains("core WebAssembly module, not a component"), "{err}");
    let junk = b"this is not wasm at all".to_vec();
    let err = runtime("").load(manifest("test:junk", DOMAIN, &junk, "", ""), &junk).unwrap_err();
    assert!(matches!(err, LoadError::InvalidComponent { .. }), "{err}");
}

#[test]
fn malformed_manifests_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("eigenbox.toml");
    for (text, needle) in [
        ("id = \"a:b\"\nversion = \"nope\"\n", "malformed manifest"),
        ("id = \"a:b\"\nversion = \"1.0.0\"\nworld = \"eigenbox:domain/domain-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"\"\n", "sha256"),
        ("id = \"A B\"\nversion = \"1.0.0\"\nworld = \"eigenbox:domain/domain-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"\"\n", "namespace:name"),
        ("[[[", "malformed manifest"),
    ] {
        std::fs::write(&p, text).unwrap();
        let err = runtime("").load_manifest_file(&p).unwrap_err().to_string();
        assert!(err.contains(needle), "{text:?} gave {err}");
        assert!(err.contains("eigenbox.toml") || !needle.starts_with("malformed"), "error should name the file: {err}");
    }
    let err = runtime("").load_manifest_file(&dir.path().join("missing.toml")).unwrap_err().to_string();
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn limits_above_the_operator_ceiling_are_refused() {
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let m = manifest("test:hostile", DOMAIN, &wasm, "", "memory_mib = 4096");
    let err = runtime("").load(m, &wasm).unwrap_err().to_string();
    assert!(err.contains("limits.memory_mib"), "{err}");
}

fn msg(role: MessageRole, text: &str) -> Message {
    Message { role, content: Some(text.into()), tool_calls: vec![], tool_call_id: None, error: false }
}

#[tokio::test]
async fn a_checker_judges_and_is_deterministic() {
    let wasm = guest_wasm("eigenbox_guest_wrong_world");
    let c = runtime("").load(manifest("test:checker", CHECKER, &wasm, "", ""), &wasm).unwrap();
    let checker = CheckerInstance::new(c).unwrap();
    let input = |said: &str| CheckInput {
        task: "{\"id\": \"t\"}".into(),
        trajectory: vec![msg(MessageRole::User, "please"), msg(MessageRole::Assistant, said)],
        initial_agent_state: None,
        final_agent_state: None,
        initial_user_state: None,
        final_user_state: None,
    };
    let pass = checker.check(&input("all done")).await.unwrap().unwrap();
    assert!(pass.passed);
    let again = checker.check(&input("all done")).await.unwrap().unwrap();
    assert_eq!((pass.passed, pass.score, &pass.reasons), (again.passed, again.score, &again.reasons));
    let fail = checker.check(&input("no")).await.unwrap().unwrap();
    assert!(!fail.passed);
    let mut bad = input("done");
    bad.task = " ".into();
    assert_eq!(checker.check(&bad).await.unwrap().unwrap_err(), "empty task");
}

/// `RuntimeConfig::compile_cache`: compiled components land in an owner-only directory and a
/// second host loads them from there; a directory others can write is refused.
#[test]
fn compiled_components_are_cached_in_an_owner_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("wasmtime");
    let host = |cache: &std::path::Path| Runtime::new(RuntimeConfig { compile_cache: Some(cache.to_path_buf()), ..RuntimeConfig::default() });
    let files = |p: &std::path::Path| walk(p).len();
    fn walk(p: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path))
            } else if path.extension().is_none_or(|x| x != "stats") {
                // (`.stats` files are the cache worker's usage counters, written in the background.)
                out.push(path)
            }
        }
        out
    }
    eigenbox_tests::mock_domain(&host(&cache).expect("cached runtime"));
    assert_eq!(std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777, 0o700);
    let n = files(&cache);
    assert!(n > 0, "nothing was cached in {}", cache.display());
    // Loading again (another host, same component) adds nothing: it was found in the cache.
    eigenbox_tests::mock_domain(&host(&cache).expect("cached runtime"));
    assert_eq!(files(&cache), n);
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = host(&shared).err().expect("a world-writable cache is refused");
    assert!(err.to_string().contains("writable by others"), "{err}");
}
