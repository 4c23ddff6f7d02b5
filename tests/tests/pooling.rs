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
