//! A deliberately hostile domain component for the host's containment tests.
//!
//! Tools (all assistant-side): `incr` (write), `get` (read), `write_then_trap` (write, panics
//! after changing state), `loop`, `grow`, `recurse`, `huge` (arguments: `{"bytes": N}`),
//! `clock`, `random`, `env`, `file`, `net` (arguments: `{"addr": "127.0.0.1:port"}`).
#![allow(clippy::all)]

wit_bindgen::generate!({
    path: ["../../../wit/types", "../../../wit/domain"],
    world: "eigenbox:domain/domain-plugin@0.1.0",
    generate_all,
});

use std::cell::RefCell;

use eigenbox::types::types::{DbSide, Requestor, ToolError, ToolErrorKind, ToolKind, ToolSpec};
use exports::eigenbox::domain::domain::{DomainInfo, EnvCall, EpisodeInit, Guest};

thread_local! {
    static COUNTER: RefCell<u64> = RefCell::new(0);
}

struct Hostile;

const TOOLS: &[(&str, bool)] = &[
    ("incr", true), ("incr_random", true), ("get", false), ("write_then_trap", true), ("loop", false), ("grow", false),
    ("recurse", false), ("recurse_shadow", false), ("huge", false), ("clock", false), ("random", false), ("seed", false), ("env", false),
    ("file", false), ("net", false),
];

fn arg(args: &str, key: &str) -> Option<String> {
    // Tiny, dependency-free extraction of `"key": value` for test inputs.
    let pat = format!("\"{key}\"");
    let rest = &args[args.find(&pat)? + pat.len()..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        Some(s[..s.find('"')?].to_string())
    } else {
        Some(rest.chars().take_while(|c| c.is_ascii_digit()).collect())
    }
}

/// Recursion with small frames: exhausts the engine's native wasm stack.
#[inline(never)]
fn recurse_native(n: u64) -> u64 {
    if std::hint::black_box(n) == u64::MAX {
        return 0;
    }
    1 + recurse_native(std::hint::black_box(n + 1))
}

/// Recursion with big address-taken frames: exhausts Rust's shadow stack in linear memory.
#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(n: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(n % 256) as usize] = n as u8;
    let mut local = [0u8; 256];
    local.copy_from_slice(pad);
    1 + recurse(n + 1, &mut local) + local[3] as u64
}

fn state() -> String {
    format!("{{\"counter\": {}}}", COUNTER.with(|c| *c.borrow()))
}

fn sha256_hex_stub(s: &str) -> String {
    // Not cryptographic: only needs to be 64 hex digits that change with the state.
    let mut h: [u64; 4] = [0xcbf29ce484222325, 0x100000001b3, 0x9e3779b97f4a7c15, 0x7f4a7c159e3779b9];
    for (i, b) in s.bytes().enumerate() {
        let k = i % 4;
        h[k] = (h[k] ^ b as u64).wrapping_mul(0x100000001b3);
    }
    h.iter().map(|x| format!("{x:016x}")).collect()
}

impl Guest for Hostile {
    fn info() -> DomainInfo {
        DomainInfo { name: "hostile".into(), version: "0.1.0".into(), policy: "none".into(), has_user_db: false }
    }

    fn tools() -> Vec<ToolSpec> {
        TOOLS
            .iter()
            .map(|(n, w)| ToolSpec {
                name: n.to_string(),
                description: format!("hostile tool {n}"),
                parameters: "{\"properties\": {}, \"title\": \"parameters\", \"type\": \"object\"}".into(),
                kind: if *w { ToolKind::Write } else { ToolKind::Read },
                mutates_state: *w,
                requestor: Requestor::Assistant,
            })
            .collect()
    }

    fn reset(_init: EpisodeInit) -> Result<(), String> {
        COUNTER.with(|c| *c.borrow_mut() = 0);
        Ok(())
    }

    fn call_tool_unsynced(requestor: Requestor, name: String, arguments: String) -> Result<String, ToolError> {
        Self::call_tool(requestor, name, arguments)
    }

    fn call_tool(requestor: Requestor, name: String, arguments: String) -> Result<String, ToolError> {
        if requestor != Requestor::Assistant {
            return Err(ToolError { kind: ToolErrorKind::UnknownTool, message: format!("Tool '{name}' not found.") });
        }
        match name.as_str() {
            "incr" => Ok(COUNTER.with(|c| {
                *c.borrow_mut() += 1;
                c.borrow().to_string()
            })),
            // A write that is not deterministic (with the `random` capability): replaying it
            // does not reproduce the state.
            "incr_random" => {
                let by = getrandom::u64().map_err(|e| ToolError { kind: ToolErrorKind::Failed, message: format!("no-random: {e}") })?;
                Ok(COUNTER.with(|c| {
                    let mut c = c.borrow_mut();
                    *c = c.wrapping_add(by | 1);
                    c.to_string()
                }))
            }
            "get" => Ok(COUNTER.with(|c| c.borrow().to_string())),
            "write_then_trap" => {
                COUNTER.with(|c| *c.borrow_mut() += 1000);
                panic!("deliberate trap in the middle of a write");
            }
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "grow" => {
                let mut v: Vec<Vec<u8>> = Vec::new();
                loop {
                    v.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&v);
                }
            }
            "recurse" => Ok(recurse_native(0).to_string()),
            "recurse_shadow" => {
                let mut pad = [0u8; 256];
                Ok(recurse(0, &mut pad).to_string())
            }
            "huge" => {
                let n: usize = arg(&arguments, "bytes").and_then(|s| s.parse().ok()).unwrap_or(8 << 20);
                Ok("x".repeat(n))
            }
            "clock" => Ok(format!("{:?}", std::time::SystemTime::now())),
            "random" => Ok(match getrandom::u64() {
                Ok(v) => v.to_string(),
                Err(e) => format!("no-random: {e}"),
            }),
            "seed" => {
                // std's HashMap seeds itself from wasi:random/insecure-seed.
                use std::hash::{BuildHasher, Hasher};
                let s = std::collections::hash_map::RandomState::new();
                let mut h = s.build_hasher();
                h.write_u8(1);
                Ok(h.finish().to_string())
            }
            "env" => Ok(match std::env::var("EIGENBOX_TEST_SECRET") {
                Ok(v) => format!("leaked:{v}"),
                Err(_) => "no-env".to_string(),
            }),
            "file" => Ok(match std::fs::read_to_string(arg(&arguments, "path").unwrap_or_else(|| "/etc/hostname".into())) {
                Ok(v) => format!("leaked:{v}"),
                Err(e) => format!("no-file: {e}"),
            }),
            "net" => {
                let addr = arg(&arguments, "addr").unwrap_or_else(|| "127.0.0.1:9".into());
                Ok(match std::net::TcpStream::connect(addr.as_str()) {
                    Ok(_) => "connected".to_string(),
                    Err(e) => format!("no-net: {e}"),
                })
            }
            other => Err(ToolError { kind: ToolErrorKind::UnknownTool, message: format!("Tool '{other}' not found.") }),
        }
    }

    fn env_function(call: EnvCall) -> Result<String, ToolError> {
        Err(ToolError { kind: ToolErrorKind::UnknownTool, message: format!("Function {} not found", call.name) })
    }

    fn state_json(side: DbSide) -> Option<String> {
        matches!(side, DbSide::Assistant).then(state)
    }

    fn state_hash(side: DbSide) -> Option<String> {
        matches!(side, DbSide::Assistant).then(|| sha256_hex_stub(&state()))
    }

    fn snapshot() -> Vec<u8> {
        COUNTER.with(|c| c.borrow().to_le_bytes().to_vec())
    }

    fn restore(snapshot: Vec<u8>) -> Result<(), String> {
        let bytes: [u8; 8] = snapshot.try_into().map_err(|_| "snapshot must be 8 bytes".to_string())?;
        COUNTER.with(|c| *c.borrow_mut() = u64::from_le_bytes(bytes));
        Ok(())
    }
}

export!(Hostile);
