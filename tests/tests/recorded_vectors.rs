//! Conformance beyond the public golden vectors: `plugins/<domain>/data/recorded/` holds vectors
//! recorded from the τ²-bench Python reference with `scripts/record_vectors.py` (every task the
//! public set leaves out, in both task-file versions; generated probes of every kind; evaluator
//! records for every task the public set does not score). Each domain's WASM plugin, and the
//! evaluator over it, must reproduce all of them, as for the public set.

use eigenbox_episode::WasmDomainEnv;
use eigenbox_tau2::Category;
use eigenbox_tests::{domain_plugin, runtime, workspace_root};

/// Runs `domain`'s recorded vectors; every check must pass, and at least `min` records of each
/// category (replays, probes, evals) must have been checked.
fn recorded(domain: &str, min: [usize; 3]) {
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
    let passed = |c: Category| report.domains.iter().filter_map(|d| d.counts.get(&c)).map(|c| c.passed).sum::<usize>();
    let got = [passed(Category::Replays), passed(Category::Probes), passed(Category::Evals)];
    assert!(got.iter().zip(min).all(|(g, m)| *g >= m), "checked {got:?}, expected at least {min:?}\n{report}");
}

#[test]
fn airline_reproduces_the_recorded_vectors() {
    // 20 test-split tasks × 2 task versions, 300 probes, 5 variants of most of 25 tasks.
    recorded("airline", [40, 300, 80]);
}

#[test]
fn retail_reproduces_the_recorded_vectors() {
    recorded("retail", [80, 300, 250]);
}

#[test]
fn telecom_reproduces_the_recorded_vectors() {
    recorded("telecom", [40, 300, 300]);
}

#[test]
fn mock_reproduces_the_recorded_probes() {
    recorded("mock", [0, 300, 0]);
}
