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
