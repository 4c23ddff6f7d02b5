//! Helpers for a plugin's golden-vector tests (feature `testing`; enable it only in the
//! plugin's `[dev-dependencies]` so it never reaches the wasm component).
//!
//! These are test code: they panic with a message on unreadable or malformed vectors.

use crate::{Domain, Requestor, Runtime, Value};
use std::path::{Path, PathBuf};

/// The golden-vector directory of `domain`: the reference's vectors in
/// `<workspace>/../shared/golden/<domain>` when present, else the copy shipped with the plugin in
/// `<manifest_dir>/data/golden`; `None` (with a notice on stdout) when neither has `tools.json`.
/// Call it as `golden_dir(env!("CARGO_MANIFEST_DIR"), "retail")`.
pub fn golden_dir(manifest_dir: &str, domain: &str) -> Option<PathBuf> {
    let root = PathBuf::from(manifest_dir);
    [root.join("../../../shared/golden").join(domain), root.join("data/golden")]
        .into_iter()
        .find(|d| d.join("tools.json").is_file())
        .or_else(|| {
            println!("NOTICE: no golden vectors for {domain} found; golden conformance skipped");
            None
        })
}

/// The non-blank lines of a JSON-lines file, parsed.
pub fn jsonl(path: impl AsRef<Path>) -> Vec<Value> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    jsonl_str(&text)
}

/// The non-blank lines of JSON-lines text, parsed.
pub fn jsonl_str(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line ({e}): {l}")))
        .collect()
}

/// A recorded `requestor` / `env_type` (`"user"`, else the assistant).
pub fn requestor(s: &Value) -> Requestor {
    match s.as_str() {
        Some("user") => Requestor::User,
        _ => Requestor::Assistant,
    }
}

/// (response, error) the way τ² writes the tool message: the result, or `Error: <message>`.
pub fn respond<D: Domain>(rt: &mut Runtime<D>, r: Requestor, name: &str, args: &Value) -> (String, bool) {
    match rt.call_tool(r, name, &args.to_string()) {
        Ok(s) => (s, false),
        Err(e) => (format!("Error: {}", e.message), true),
    }
}
