//! airline, retail and telecom, loaded through the runtime as WASM components, reproduce the
//! reference's public golden vectors (the plugins' native tests check the same logic without the
//! sandbox; this checks the components the host actually runs).

use eigenbox_episode::WasmDomainEnv;
use eigenbox_tests::{domain_plugin, runtime, workspace_root};

fn conformance(domain: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = runtime("");
    let component = domain_plugin(&host, domain);
    let shared = workspace_root().join("../shared/golden").join(domain);
    let golden = if shared.join("tools.json").is_file() { shared } else { workspace_root().join("plugins").join(domain).join("data/golden") };
    let handle = rt.handle().clone();
    let report = eigenbox_tau2::run_conformance(&golden, &workspace_root().join("plugins").join(domain).join("data"), || {
        WasmDomainEnv::new(&handle, component.clone()).map_err(Into::into)
    })
    .unwrap();
    assert_eq!(report.failed(), 0, "{report}");
    assert!(report.passed() > 100, "{report}");
}

#[test]
fn airline_matches_the_golden_vectors() {
    conformance("airline");
}

#[test]
fn retail_matches_the_golden_vectors() {
    conformance("retail");
}

#[test]
fn telecom_matches_the_golden_vectors() {
    conformance("telecom");
}

/// The way a host serving many episodes runs airline (pooled instance slots, every episode a
/// new instance of the frozen initial state, whose rows and cached hash text are shared
/// copy-on-write) gives the same answers and hashes; and the host's DB hash (native SHA-256
/// of `state-json`) equals the guest's own `state-hash` after every task's replay.
#[test]
fn airline_from_a_frozen_initial_state_in_pooled_slots_matches_too() {
    use eigenbox_runtime::{DbSide, EpisodeInit, InstancePool, Runtime, RuntimeConfig};
    use eigenbox_tau2::DomainEnv;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = Runtime::new(RuntimeConfig { pool: Some(InstancePool::default()), ..RuntimeConfig::default() }).unwrap();
    let original = domain_plugin(&host, "airline");
    let frozen = rt.block_on(original.freeze(EpisodeInit { agent_data: None, user_data: None, actions: Vec::new() })).unwrap();
    let component = frozen.component().clone();
    let shared = workspace_root().join("../shared/golden/airline");
    let golden = if shared.join("tools.json").is_file() { shared } else { workspace_root().join("plugins/airline/data/golden") };
    let data = workspace_root().join("plugins/airline/data");
    let handle = rt.handle().clone();
    let report = eigenbox_tau2::run_conformance(&golden, &data, || WasmDomainEnv::new(&handle, component.clone()).map_err(Into::into)).unwrap();
    assert_eq!(report.failed(), 0, "{report}");

    let set = eigenbox_tau2::TaskSet::load(&data, eigenbox_tau2::TaskVersion::V1_0, None).unwrap();
    let mut compared = 0;
    for task in set.tasks.iter().take(12) {
        let mut env = WasmDomainEnv::new(&handle, component.clone()).unwrap();
        eigenbox_tau2::initialise_episode(&mut env, Some(task), true).unwrap();
        let actions = task.evaluation_criteria.get().and_then(|c| c.actions.get()).cloned().unwrap_or_default();
        for a in &actions {
            env.call_tool(a.requestor(), &a.name, &serde_json::Value::Object(a.arguments.clone())).unwrap();
        }
        let host_hash = rt.block_on(env.instance().state_hash(DbSide::Assistant)).unwrap();
        let guest_hash = rt.block_on(env.instance().guest_state_hash(DbSide::Assistant)).unwrap();
        assert_eq!(host_hash, guest_hash, "task {}", task.id);
        compared += 1;
    }
    assert_eq!(compared, 12);
}
