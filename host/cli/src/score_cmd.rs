//! `eigenbox score`: re-score the episodes of a results file written by `eigenbox run` with
//! this build's evaluator and domain plugin (e.g. after an evaluator fix, or to check a file
//! someone else produced), and write the file back with the new rewards and metrics.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use eigenbox_eval::{Metrics, Trial};
use eigenbox_orchestrator::{ScoredEpisode, WasmScorer};
use serde_json::Value;

use super::{parse_version, progress, Global, Host};

/// Arguments of `eigenbox score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// A results file written by `eigenbox run`.
    results: PathBuf,
    /// Where to write the re-scored results (default: overwrite the input).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(g: &Global, args: ScoreArgs) -> Result<ExitCode> {
    let text = std::fs::read(&args.results).with_context(|| format!("reading {}", args.results.display()))?;
    let mut doc: Value = serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", args.results.display()))?;
    let params = doc.get("params").cloned().unwrap_or(Value::Null);
    let Some(domain_name) = params.get("domain").and_then(Value::as_str).map(str::to_string) else {
        bail!("{} is not a results file of `eigenbox run` (no `params.domain`)", args.results.display());
    };
    let version = parse_version(params.get("version").and_then(Value::as_str).unwrap_or("v1.0"))?;
    let episodes: Vec<ScoredEpisode> = serde_json::from_value(doc.get("episodes").cloned().unwrap_or(Value::Null))
        .with_context(|| format!("the `episodes` of {} are unreadable", args.results.display()))?;
    let host = Host::new(g)?;
    let domain = host.frozen_domain(&domain_name)?;
    if let Some(was) = params.get("domain_sha256").and_then(Value::as_str) {
        if was != domain.sha256() {
            eprintln!("note: the episodes ran on {domain_name} {was}; re-scoring with {}", domain.sha256());
        }
    }
    let set = eigenbox_tau2::TaskSet::load(&host.plugins.data_dir(&domain_name), version, None)?;
    let scorer = {
        let _tokio = host.rt.enter();
        WasmScorer::new(domain.clone())
    };
    let pb = progress(episodes.len() as u64, "scoring");
    let mut rescored = Vec::with_capacity(episodes.len());
    let mut changed = 0usize;
    for old in episodes {
        let task = set.get(&old.episode.task_id).with_context(|| format!("no task `{}` in {}", old.episode.task_id, set.path.display()))?;
        let new = host.rt.block_on(ScoredEpisode::score(&scorer, task, old.trial, old.episode.clone()));
        if new.reward != old.reward {
            changed += 1;
            eprintln!("{} trial {}: reward {:?} -> {:?}", old.episode.task_id, old.trial, old.reward, new.reward);
        }
        rescored.push(new);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let trials: Vec<Trial> =
        rescored.iter().map(|s| Trial { task_id: s.episode.task_id.clone(), reward: s.reward, termination: s.episode.termination_reason }).collect();
    let metrics = Metrics::compute(&trials);
    doc["metrics"] = serde_json::to_value(&metrics)?;
    doc["episodes"] = serde_json::to_value(&rescored)?;
    doc["rescored_with"] = serde_json::json!({"domain_sha256": domain.sha256(), "eigenbox": env!("CARGO_PKG_VERSION")});
    let out = args.out.unwrap_or(args.results);
    std::fs::write(&out, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("writing {}", out.display()))?;
    let pass: Vec<String> = metrics.pass_hat_ks.iter().map(|(k, v)| format!("pass^{k} {v:.3}")).collect();
    println!(
        "{} episode(s) re-scored, {changed} reward(s) changed: avg reward {:.3}, {}; results in {}",
        rescored.len(),
        metrics.avg_reward,
        if pass.is_empty() { "pass^k -".to_string() } else { pass.join(", ") },
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
