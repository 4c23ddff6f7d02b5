//! Helpers for eigenbox's integration tests: locate built guest components, write manifests
//! for them with the right hash, and build runtimes from grants text.
//!
//! The guests are built by `scripts/test.sh` (wasm32-wasip2) before `cargo test` runs.
//!
//! ```no_run
//! let bytes = eigenbox_tests::guest_wasm("eigenbox_guest_hostile");
//! let m = eigenbox_tests::manifest("test:hostile", "eigenbox:domain/domain-plugin@0.1.0", &bytes, "", "");
//! assert_eq!(m.sha256.len(), 64);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use eigenbox_manifest::{sha256_hex, Grants, Manifest};
use eigenbox_runtime::{LoadedComponent, Runtime, RuntimeConfig};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(".."))
}

/// Bytes of a guest built for wasm32-wasip2 (`name` without `.wasm`).
pub fn guest_wasm(name: &str) -> Vec<u8> {
    let p = workspace_root().join("target/wasm32-wasip2/release").join(format!("{name}.wasm"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}; build the guests first with scripts/build.sh", p.display()))
}

/// A manifest for `wasm` with extra TOML for `[capabilities]` and `[limits]`.
pub fn manifest(id: &str, world: &str, wasm: &[u8], capabilities: &str, limits: &str) -> Manifest {
    let text = format!(
        "id = \"{id}\"\nversion = \"0.1.0\"\nworld = \"{world}\"\nwasm = \"x.wasm\"\nsha256 = \"{}\"\n[capabilities]\n{capabilities}\n[limits]\n{limits}\n",
        sha256_hex(wasm)
    );
    Manifest::from_toml_str(&text).unwrap_or_else(|e| panic!("test manifest does not parse: {e}\n{text}"))
}

/// A runtime with these grants (TOML text).
pub fn runtime(grants: &str) -> Runtime {
    let grants = Grants::from_toml_str(grants).unwrap_or_else(|e| panic!("test grants do not parse: {e}"));
    Runtime::new(RuntimeConfig { grants, ..RuntimeConfig::default() }).expect("runtime")
}

/// Domain world name.
pub const DOMAIN: &str = "eigenbox:domain/domain-plugin@0.1.0";
/// Role world name.
pub const ROLE: &str = "eigenbox:role/role-plugin@0.1.0";
/// Checker world name.
pub const CHECKER: &str = "eigenbox:checker/checker-plugin@0.1.0";

/// Load the hostile domain with these limits and capabilities under these grants.
pub fn hostile(grants: &str, capabilities: &str, limits: &str) -> Arc<LoadedComponent> {
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let m = manifest("test:hostile", DOMAIN, &wasm, capabilities, limits);
    runtime(grants).load(m, &wasm).unwrap_or_else(|e| panic!("hostile guest failed to load: {e}"))
}

/// Load the mock domain plugin (built wasm + the repo's manifest template).
pub fn mock_domain(runtime: &Runtime) -> Arc<LoadedComponent> {
    domain_plugin(runtime, "mock")
}

/// Load a domain plugin of this repo by name (`plugins/<name>`: built wasm + manifest template).
pub fn domain_plugin(runtime: &Runtime, name: &str) -> Arc<LoadedComponent> {
    load_template(runtime, &format!("eigenbox_plugin_{name}"), &workspace_root().join("plugins").join(name).join("eigenbox.toml"), &[])
}

/// Load a built guest with a repo manifest template: its `sha256` filled in and the top-level or
/// `[limits]` keys in `overrides` (`("memory_mib", "256")`) replaced.
pub fn load_template(runtime: &Runtime, wasm_name: &str, template: &Path, overrides: &[(&str, &str)]) -> Arc<LoadedComponent> {
    let wasm = guest_wasm(wasm_name);
    let text = std::fs::read_to_string(template).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    let text: String = text
        .lines()
        .map(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            if key == "sha256" {
                return format!("sha256 = \"{}\"", sha256_hex(&wasm));
            }
            match overrides.iter().find(|(k, _)| *k == key) {
                Some((k, v)) => format!("{k} = {v}"),
                None => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let m = Manifest::from_toml_str(&text).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    runtime.load(m, &wasm).unwrap_or_else(|e| panic!("{wasm_name} failed to load: {e}"))
}

/// The example notes domain with room for a big state (256 MiB, 30 s, 10^10 fuel).
pub fn big_notes_domain(runtime: &Runtime) -> Arc<LoadedComponent> {
    let template = workspace_root().join("examples/notes-domain/eigenbox.toml");
    load_template(runtime, "eigenbox_example_notes", &template, &[("memory_mib", "256"), ("timeout_ms", "30000"), ("fuel", "10_000_000_000")])
}

/// A notes DB of about `target_bytes` of JSON (reservation-like records), as initialization data.
pub fn synthetic_notes(target_bytes: usize) -> String {
    let mut notes = serde_json::Map::new();
    let (mut i, mut size) = (0, 0);
    while size < target_bytes {
        i += 1;
        let id = format!("note_{i}");
        let body = format!("Reservation {i:06}: flight HAT{:03} from JFK to LAX, passengers Ana, Bo, Cy; paid with credit_card_{:07}; status confirmed.", i % 300, i * 7);
        let note = serde_json::json!({"note_id": id, "title": format!("Trip {i}"), "body": body, "tags": ["travel", format!("t{}", i % 17)]});
        size += note.to_string().len() + id.len() + 4;
        notes.insert(id, note);
    }
    serde_json::json!({"notes": notes, "next_id": i + 1}).to_string()
}

/// The golden mock vectors: `../shared/golden/mock` when present, else the copy shipped with the plugin.
pub fn mock_golden_dir() -> PathBuf {
    let shared = workspace_root().join("../shared/golden/mock");
    if shared.join("tools.json").is_file() {
        shared
    } else {
        workspace_root().join("plugins/mock/data/golden")
    }
}

/// Minor page faults so far: of this process, or with `thread_only` of the calling thread
/// (field 10 of `/proc/<self|thread-self>/stat`; 0 where it cannot be read).
pub fn minor_faults(thread_only: bool) -> u64 {
    let path = if thread_only { "/proc/thread-self/stat" } else { "/proc/self/stat" };
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let rest = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    rest.split_whitespace().nth(7).and_then(|x| x.parse().ok()).unwrap_or(0)
}
