//! The pooled instance allocator (`RuntimeConfig::pool`): slots are reused across episodes
//! without leaking state, limits still hold, and running out of slots or asking for more
//! memory than a slot holds are clear errors.

use eigenbox_runtime::{CallError, DomainInstance, InstancePool, LoadError, Requestor, Runtime, RuntimeConfig};
use eigenbox_tests::{guest_wasm, manifest, DOMAIN};

fn pooled(max_instances: u32, max_memory_mib: u64) -> Runtime {
    pooled_with(max_instances, max_memory_mib, false)
}

/// `dirty_only`: slots reset only the pages an instance wrote (`PAGEMAP_SCAN`).
fn pooled_with(max_instances: u32, max_memory_mib: u64, dirty_only: bool) -> Runtime {
    let pool = InstancePool { max_instances, max_memory_bytes: max_memory_mib << 20, keep_resident_bytes: 16 << 20, reset_dirty_pages_only: dirty_only };
    Runtime::new(RuntimeConfig { pool: Some(pool), ..RuntimeConfig::default() }).expect("pooled runtime")
}

async fn call(d: &mut DomainInstance, tool: &str) -> Result<String, CallError> {
    d.call_tool(Requestor::Assistant, tool, "{}").await.map(|r| r.unwrap_or_else(|e| format!("tool-error: {}", e.message)))
}

#[tokio::test]
async fn reused_slots_start_clean_and_limits_hold() {
    for dirty_only in [false, true] {
        reused_slots_start_clean(pooled_with(2, 64, dirty_only)).await;
    }
}

async fn reused_slots_start_clean(rt: Runtime) {
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let c = rt.load(manifest("test:hostile", DOMAIN, &wasm, "", "memory_mib = 32"), &wasm).expect("load");
    for round in 0..5 {
        // Each episode lands in a slot an earlier one used and dirtied.
        let mut d = DomainInstance::new(c.clone()).await.expect("instance");
        assert_eq!(call(&mut d, "get").await.unwrap(), "0", "round {round}: state leaked from an earlier episode");
        for _ in 0..=round {
            call(&mut d, "incr").await.unwrap();
        }
        assert_eq!(call(&mut d, "get").await.unwrap(), (round + 1).to_string());
        // The memory cap is enforced in a pooled slot too, and the episode recovers.
        assert_eq!(call(&mut d, "grow").await.unwrap_err(), CallError::OutOfMemory { limit_bytes: 32 << 20 });
        assert_eq!(call(&mut d, "get").await.unwrap(), (round + 1).to_string());
    }
}

#[tokio::test]
async fn an_exhausted_pool_is_a_clear_error_and_frees_up() {
    let rt = pooled(2, 64);
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let c = rt.load(manifest("test:hostile", DOMAIN, &wasm, "", "memory_mib = 32"), &wasm).expect("load");
    let a = DomainInstance::new(c.clone()).await.expect("first");
    let b = DomainInstance::new(c.clone()).await.expect("second");
    let err = DomainInstance::new(c.clone()).await.err().expect("a third instance must not fit a 2-slot pool");
    assert!(matches!(err, CallError::Instantiate(_)), "{err:?}");
    assert!(err.to_string().contains("maximum concurrent") || err.to_string().to_lowercase().contains("pool"), "{err}");
    drop((a, b));
    DomainInstance::new(c).await.expect("slots are free again");
}

#[test]
fn a_grant_larger_than_a_slot_is_refused_at_load() {
    let rt = pooled(2, 16);
    let wasm = guest_wasm("eigenbox_guest_hostile");
    let err = rt.load(manifest("test:hostile", DOMAIN, &wasm, "", "memory_mib = 32"), &wasm).err().expect("refused");
    assert!(matches!(err, LoadError::Uninstantiable { .. }), "{err:?}");
    assert!(err.to_string().contains("32 MiB") && err.to_string().contains("16 MiB"), "{err}");
}

/// A domain built with the SDK seals its heap when its state is frozen, and the episodes of
/// that state then write so few ranges of their memory that a slot which resets only the
/// written pages unmaps nothing: once the slot has been used, a replay and its DB hash run with
/// about one page fault per call. (Unsealed, an airline episode writes all over its image and
/// the next one faults its memory back in.) The answers stay the reference's.
#[test]
fn episodes_of_a_sealed_frozen_state_reuse_slots_without_page_faults() {
    use eigenbox_tests::{domain_plugin, workspace_root};
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // The default pool (dirty pages only, 256 MiB kept resident) with 2 slots, so slots are reused.
    let pool = InstancePool { max_instances: 2, ..InstancePool::default() };
    assert!(pool.reset_dirty_pages_only);
    let host = Runtime::new(RuntimeConfig { pool: Some(pool), ..RuntimeConfig::default() }).unwrap();
    let original = domain_plugin(&host, "airline");
    let init = eigenbox_runtime::EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() };
    let frozen = rt.block_on(original.freeze(init)).expect("freeze");
    assert!(frozen.info().heap_sealed, "the SDK domain did not seal its heap");
    let replays = eigenbox_tau2::read_replays(&workspace_root().join("plugins/airline/data/golden/replays.jsonl")).unwrap();
    let replays: Vec<_> = replays.iter().filter(|r| r.version == "v1.0" && !r.calls.is_empty()).take(12).collect();
    let (mut calls, mut faults) = (0, 0);
    for (i, rec) in replays.iter().enumerate() {
        let mut d = rt.block_on(DomainInstance::from_frozen(&frozen)).expect("episode");
        let f0 = eigenbox_tests::minor_faults(true);
        for c in &rec.calls {
            let args = c.arguments.to_string();
            let got = rt.block_on(d.call_tool(eigenbox_episode::wit_req(c.requestor), &c.name, &args)).expect("call");
            let text = got.unwrap_or_else(|e| format!("Error: {}", e.message));
            assert_eq!(text, c.response, "task {} `{}`", rec.task_id, c.name);
        }
        let hash = rt.block_on(d.state_hash(eigenbox_runtime::DbSide::Assistant)).expect("hash");
        assert_eq!(hash, rec.final_agent_db_hash, "task {}", rec.task_id);
        // The first episodes of each slot map its pages in; count the rest.
        if i >= 4 {
            faults += eigenbox_tests::minor_faults(true) - f0;
            calls += rec.calls.len();
        }
    }
    assert!(calls > 10, "{calls} calls measured");
    // Measured: ≈ 1 per call sealed (an episode reaching pages no earlier one touched), ≈ 200
    // per call unsealed (the slot's memory past the 32nd written range is unmapped at every
    // reset, so each DB hash faults its 3.4 MB back in).
    assert!(faults <= 4 * calls as u64, "{faults} minor page faults in {calls} calls of sealed episodes");
}
