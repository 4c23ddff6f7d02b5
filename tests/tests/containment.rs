//! Hostile guests are contained: each failure is a typed error for that call, the host keeps
//! running, other episodes are unaffected, and the next call runs on a fresh instance with the
//! state as it was before the failed call.

use std::time::{Duration, Instant};

use eigenbox_runtime::{CallError, DbSide, DomainInstance, Requestor};
use eigenbox_tests::hostile;

const A: Requestor = Requestor::Assistant;

async fn call(d: &mut DomainInstance, tool: &str, args: &str) -> Result<String, CallError> {
    d.call_tool(A, tool, args).await.map(|r| r.unwrap_or_else(|e| format!("tool-error: {}", e.message)))
}

#[tokio::test]
async fn infinite_loop_runs_out_of_fuel_and_state_survives() {
    let c = hostile("", "", "fuel = 50_000_000\ntimeout_ms = 20_000");
    let mut d = DomainInstance::new(c).await.unwrap();
    assert_eq!(call(&mut d, "incr", "{}").await.unwrap(), "1");
    assert_eq!(call(&mut d, "incr", "{}").await.unwrap(), "2");
    let err = call(&mut d, "loop", "{}").await.unwrap_err();
    assert_eq!(err, CallError::OutOfFuel { fuel: 50_000_000 });
    // Fresh instance, journaled state replayed.
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "2");
    assert!(d.last_call().fuel > 0);
}

#[tokio::test]
async fn infinite_loop_with_ample_fuel_hits_the_deadline() {
    let c = hostile("", "", "fuel = 10_000_000_000\ntimeout_ms = 300");
    let mut d = DomainInstance::new(c).await.unwrap();
    let t = Instant::now();
    let err = call(&mut d, "loop", "{}").await.unwrap_err();
    assert_eq!(err, CallError::Timeout { timeout_ms: 300 });
    assert!(t.elapsed() < Duration::from_secs(5), "deadline not enforced promptly: {:?}", t.elapsed());
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "0");
}

#[tokio::test]
async fn memory_bomb_is_capped() {
    let c = hostile("", "", "memory_mib = 32");
    let mut d = DomainInstance::new(c).await.unwrap();
    call(&mut d, "incr", "{}").await.unwrap();
    let err = call(&mut d, "grow", "{}").await.unwrap_err();
    assert_eq!(err, CallError::OutOfMemory { limit_bytes: 32 * 1024 * 1024 });
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "1");
}

#[tokio::test]
async fn deep_recursion_is_a_stack_overflow() {
    let c = hostile("", "", "");
    let mut d = DomainInstance::new(c).await.unwrap();
    let err = call(&mut d, "recurse", "{}").await.unwrap_err();
    assert_eq!(err, CallError::StackOverflow);
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "0");
    // Big frames exhaust the guest's own shadow stack first: a trap, with an explanation.
    match call(&mut d, "recurse_shadow", "{}").await.unwrap_err() {
        CallError::Trap { message } => assert!(message.contains("shadow stack"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "0");
}

#[tokio::test]
async fn huge_output_is_refused_but_small_output_passes() {
    let c = hostile("", "", "output_kib = 1024\nmemory_mib = 64");
    let mut d = DomainInstance::new(c).await.unwrap();
    let ok = call(&mut d, "huge", r#"{"bytes": 1000}"#).await.unwrap();
    assert_eq!(ok.len(), 1000);
    let err = call(&mut d, "huge", r#"{"bytes": 4000000}"#).await.unwrap_err();
    assert_eq!(err, CallError::OutputTooLarge { bytes: 4_000_000, limit_bytes: 1024 * 1024 });
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "0");
}

#[tokio::test]
async fn a_trap_in_the_middle_of_a_write_leaves_the_state_as_before() {
    let c = hostile("", "", "");
    let mut d = DomainInstance::new(c).await.unwrap();
    call(&mut d, "incr", "{}").await.unwrap();
    let before = d.state_hash(DbSide::Assistant).await.unwrap();
    let err = call(&mut d, "write_then_trap", "{}").await.unwrap_err();
    match &err {
        CallError::Trap { message } => assert!(message.contains("deliberate trap"), "trap message lacks the guest's panic text: {message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(d.state_hash(DbSide::Assistant).await.unwrap(), before);
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "1");
}

#[tokio::test]
async fn rollback_survives_journal_compaction() {
    let c = hostile("", "", "fuel = 50_000_000");
    let mut d = DomainInstance::new(c).await.unwrap();
    for _ in 0..150 {
        call(&mut d, "incr", "{}").await.unwrap();
    }
    assert!(matches!(call(&mut d, "loop", "{}").await, Err(CallError::OutOfFuel { .. })));
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "150");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn episodes_are_isolated_and_survive_each_others_traps() {
    let c = hostile("", "", "fuel = 50_000_000");
    let mut a = DomainInstance::new(c.clone()).await.unwrap();
    let mut b = DomainInstance::new(c.clone()).await.unwrap();
    call(&mut a, "incr", "{}").await.unwrap();
    call(&mut a, "incr", "{}").await.unwrap();
    assert_eq!(call(&mut b, "get", "{}").await.unwrap(), "0");
    // A trap in `a` (running concurrently with writes in `b`) touches only `a`.
    let ta = tokio::spawn(async move {
        let e = call(&mut a, "loop", "{}").await.unwrap_err();
        (a, e)
    });
    let tb = tokio::spawn(async move {
        for _ in 0..5 {
            call(&mut b, "incr", "{}").await.unwrap();
        }
        b
    });
    let (mut a, e) = ta.await.unwrap();
    let mut b = tb.await.unwrap();
    assert!(matches!(e, CallError::OutOfFuel { .. }));
    assert_eq!(call(&mut a, "get", "{}").await.unwrap(), "2");
    assert_eq!(call(&mut b, "get", "{}").await.unwrap(), "5");
}

#[tokio::test]
async fn fork_copies_state_and_then_diverges() {
    let c = hostile("", "", "");
    let mut a = DomainInstance::new(c).await.unwrap();
    call(&mut a, "incr", "{}").await.unwrap();
    let mut b = a.fork().await.unwrap();
    call(&mut b, "incr", "{}").await.unwrap();
    assert_eq!(call(&mut a, "get", "{}").await.unwrap(), "1");
    assert_eq!(call(&mut b, "get", "{}").await.unwrap(), "2");
    // A bad snapshot is the guest's typed refusal, not a trap.
    assert!(a.restore(b"short").await.unwrap().is_err());
    assert_eq!(call(&mut a, "get", "{}").await.unwrap(), "1");
}

#[test]
fn instance_and_table_caps_are_enforced_at_load() {
    // A Rust component is several core instances; a cap of one can never be met, so the load-time
    // trial instantiation refuses it with a typed error naming the limit.
    let wasm = eigenbox_tests::guest_wasm("eigenbox_guest_hostile");
    for (limits, needle) in [("instances = 1", "instance"), ("table_elements = 1", "table")] {
        let m = eigenbox_tests::manifest("test:hostile", eigenbox_tests::DOMAIN, &wasm, "", limits);
        match eigenbox_tests::runtime("").load(m, &wasm) {
            Err(e @ eigenbox_runtime::LoadError::Uninstantiable { .. }) => assert!(e.to_string().contains(needle), "{e}"),
            Err(other) => panic!("expected Uninstantiable for {limits}, got {other}"),
            Ok(_) => panic!("a component that cannot run under `{limits}` was loaded"),
        }
    }
    // With the defaults it loads and runs.
    let _ = hostile("", "", "");
}

#[tokio::test]
async fn unsynced_writes_are_journaled_and_survive_a_trap() {
    let c = hostile("", "", "fuel = 50_000_000\ntimeout_ms = 20_000");
    let mut d = DomainInstance::new(c).await.unwrap();
    for _ in 0..2 {
        d.call_tool_unsynced(A, "incr", "{}").await.unwrap().unwrap();
    }
    call(&mut d, "incr", "{}").await.unwrap();
    assert_eq!(call(&mut d, "loop", "{}").await.unwrap_err(), CallError::OutOfFuel { fuel: 50_000_000 });
    // The fresh instance replays both kinds of journaled writes.
    assert_eq!(call(&mut d, "get", "{}").await.unwrap(), "3");
}
