//! Conformance beyond the public golden vectors: `plugins/<domain>/data/recorded/` holds vectors
//! recorded from the τ²-bench Python reference with `scripts/record_vectors.py` (every task the
//! public set leaves out, in both task-file versions; generated probes of every kind; evaluator
//! records for every task the public set does not score). Each domain's WASM plugin, and the
//! evaluator over it, must reproduce all of them, as for the public set.

use eigenbox_episode::WasmDomainEnv;
use eigenbox_tau2::Category;
use eigenbox_tests::{domain_plugin, runtime, workspace_root};

fn recorded(domain: &str) -> eigenbox_tau2::Report {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let host = runtime("");
    let component = domain_plugin(&host, domain);
    let data = workspace_root().join("plugins").join(domain).join("data");
    let dir = data.join("recorded");
    let handle = rt.handle().clone();
    let factory = || WasmDomainEnv::new(&handle, component.clone()).map_err(Into::into);
    let mut report = eigenbox_tau2::run_conformance(&dir, &data, factory).unwrap();
    let domain_report = report.domains.last_mut().unwrap();
    eigenbox_eval::check_evals(&dir, &data, factory, domain_report).unwrap();
    assert_eq!(report.failed(), 0, "{report}");
    report
}

/// Passed records of one category.
fn passed(report: &eigenbox_tau2::Report, category: Category) -> usize {
    report.domains.iter().filter_map(|d| d.counts.get(&category)).map(|c| c.passed).sum()
}

#[test]
fn airline_reproduces_the_recorded_vectors() {
    let r = recorded("airline");
    // 20 test-split tasks × 2 task versions, 300 probes, 5 variants of most of 25 tasks.
    assert!(passed(&r, Category::Replays) >= 40 && passed(&r, Category::Probes) >= 300 && passed(&r, Category::Evals) >= 80, "{r}");
}

#[test]
fn retail_reproduces_the_recorded_vectors() {
    let r = recorded("retail");
    assert!(passed(&r, Category::Replays) >= 80 && passed(&r, Category::Probes) >= 300 && passed(&r, Category::Evals) >= 250, "{r}");
}

#[test]
fn telecom_reproduces_the_recorded_vectors() {
    let r = recorded("telecom");
    assert!(passed(&r, Category::Replays) >= 40 && passed(&r, Category::Probes) >= 300 && passed(&r, Category::Evals) >= 300, "{r}");
}

#[test]
fn mock_reproduces_the_recorded_probes() {
    let r = recorded("mock");
    assert!(passed(&r, Category::Probes) >= 300, "{r}");
}
