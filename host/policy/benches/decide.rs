//! Cost of one policy decision per mediated call, against the grants check it sits beside
//! (`Granted::may_call_tool`-style pattern matching), measured in the same run.
//!
//! Run: `cargo bench -p eigenbox-policy --bench decide`. Goal: decision p50 ≤ 5 µs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use eigenbox_policy::{Action, Context, Engine, EpisodeBudget, Principal, Request, Resource};

fn stats(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!("{name:<58} n={:<6} p50 {:>8.2} µs   p90 {:>8.2} µs   p99 {:>8.2} µs", samples.len(), p(0.5).as_secs_f64() * 1e6, p(0.9).as_secs_f64() * 1e6, p(0.99).as_secs_f64() * 1e6);
    p(0.5)
}

fn time<F: FnMut()>(n: usize, mut f: F) -> Vec<Duration> {
    for _ in 0..n / 10 {
        f();
    }
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect()
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/policy");
    let default = Engine::load(&[root.join("default.cedar")], None).expect("default policy");
    let strict = Engine::load(&[root.join("examples/strict.cedar")], None).expect("example policy");
    println!("eigenbox policy bench ({}), {}, {} + {} rules", std::env::consts::ARCH, eigenbox_policy::CEDAR_VERSION, default.rules().len(), strict.rules().len());

    let n = 20_000;
    // Baseline: the load-time grants check the host already does on every tool call.
    let patterns: Vec<String> = vec!["mock/get_users".into(), "airline/get_*".into(), "airline/send_certificate".into(), "retail/*".into()];
    let base = stats(
        "baseline: grant pattern match (4 patterns)",
        time(n, || {
            let (d, t) = black_box(("airline", "send_certificate"));
            black_box(patterns.iter().any(|p| p.split_once('/').is_some_and(|(pd, pt)| (pd == "*" || pd == d) && (pt == "*" || pt == t))));
        }),
    );

    let agent = Principal::agent("assistant", ["assistant"]);
    let read = Resource::tool("airline", "get_user_details");
    let write = Resource::tool("airline", "send_certificate");
    let args_read = serde_json::json!({"user_id": "mia_li_3668"});
    let args_write = serde_json::json!({"user_id": "mia_li_3668", "amount": 150});
    let mut budget = EpisodeBudget::new();
    budget.note_user_message("yes");
    let ctx = |args: &'static serde_json::Value, tool: &str, budget: &EpisodeBudget| {
        let mut c = Context::episode("ep-1");
        c.user = Some("mia_li_3668");
        c.requestor = Some("assistant");
        c.args = Some(args);
        c.counters = budget.counters(Some(tool));
        c.confirmed = budget.confirmed();
        c
    };
    let args_read: &'static serde_json::Value = Box::leak(Box::new(args_read));
    let args_write: &'static serde_json::Value = Box::leak(Box::new(args_write));

    let d_default = stats(
        "default policy: tool-read decision",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolRead, resource: &read, context: ctx(args_read, "airline/get_user_details", &budget) };
            assert!(black_box(default.decide(&r).unwrap()).allow);
        }),
    );
    let d_read = stats(
        "example strict policy: tool-read decision",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolRead, resource: &read, context: ctx(args_read, "airline/get_user_details", &budget) };
            assert!(black_box(strict.decide(&r).unwrap()).allow);
        }),
    );
    let d_write = stats(
        "example strict policy: tool-write with argument rules",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolWrite, resource: &write, context: ctx(args_write, "airline/send_certificate", &budget) };
            assert!(black_box(strict.decide(&r).unwrap()).allow);
        }),
    );
    let unconfirmed = EpisodeBudget::new();
    let d_deny = stats(
        "example strict policy: denied write (no confirmation)",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolWrite, resource: &write, context: ctx(args_write, "airline/send_certificate", &unconfirmed) };
            assert!(!black_box(strict.decide(&r).unwrap()).allow);
        }),
    );
    // The same requests through Cedar's evaluator alone (no compiled fast path), same run.
    let c_read = stats(
        "  (Cedar only) strict tool-read",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolRead, resource: &read, context: ctx(args_read, "airline/get_user_details", &budget) };
            assert!(black_box(strict.decide_with_cedar(&r).unwrap()).allow);
        }),
    );
    let c_write = stats(
        "  (Cedar only) strict tool-write with argument rules",
        time(n, || {
            let r = Request { principal: &agent, action: Action::ToolWrite, resource: &write, context: ctx(args_write, "airline/send_certificate", &budget) };
            assert!(black_box(strict.decide_with_cedar(&r).unwrap()).allow);
        }),
    );
    let ratio = |d: Duration| d.as_secs_f64() / base.as_secs_f64().max(1e-9);
    let speedup = |cedar: Duration, fast: Duration| cedar.as_secs_f64() / fast.as_secs_f64().max(1e-12);
    println!(
        "  -> decision / grant check: default {:.0}x, strict read {:.0}x, strict write {:.0}x, strict deny {:.0}x",
        ratio(d_default),
        ratio(d_read),
        ratio(d_write),
        ratio(d_deny),
    );
    println!("  -> compiled fast path vs Cedar alone: strict read {:.1}x faster, strict write {:.1}x faster", speedup(c_read, d_read), speedup(c_write, d_write));
    let worst = d_default.max(d_read).max(d_write).max(d_deny);
    println!("  -> goal p50 <= 5 µs for every decision above: {} (worst p50 {:.2} µs)", if worst <= Duration::from_micros(5) { "met" } else { "NOT met" }, worst.as_secs_f64() * 1e6);
}
