//! The `evals` category of `eigenbox conformance`: every record of a golden `evals.jsonl`
//! re-scored and compared with the reference's `reward_info`, key order and number types
//! included.

use std::collections::HashMap;
use std::path::Path;

use eigenbox_tau2::golden::read_jsonl;
use eigenbox_tau2::{Category, ConformanceError, DomainEnv, DomainReport, EvalRecord, GoldenError, TaskSet, TaskVersion};
use serde_json::Value;

use crate::evaluator::{EvalConfig, Evaluator};
use crate::reward::json_differences;

/// How many differences one failed record lists.
pub const DIFFERENCES_SHOWN: usize = 12;

/// One `evals.jsonl` line: the structured record and the raw `reward_info` as written.
#[derive(Clone, Debug)]
pub struct GoldenEval {
    /// The record.
    pub record: EvalRecord,
    /// `reward_info` exactly as the reference wrote it (`null` if absent).
    pub expected: Value,
}

/// Reads an `evals.jsonl` (errors name the file and line).
pub fn read_golden_evals(path: &Path) -> Result<Vec<GoldenEval>, GoldenError> {
    let raw: Vec<Value> = read_jsonl(path)?;
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let expected = v.get("reward_info").cloned().unwrap_or(Value::Null);
            let record: EvalRecord = serde_json::from_value(v).map_err(|source| GoldenError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                column: 0,
                what: "EvalRecord",
                source,
            })?;
            Ok(GoldenEval { record, expected })
        })
        .collect()
}

/// The check id of a record: `version/task_id/variant`.
pub fn record_id(rec: &EvalRecord) -> String {
    format!("{}/{}/{}", rec.version.as_deref().unwrap_or("v1.0"), rec.task_id, rec.variant)
}

/// Checks one golden record with `evaluator`; returns the differences (empty = reproduced).
pub fn check_eval<E, F>(golden: &GoldenEval, tasks: &TaskSet, evaluator: &mut Evaluator<F>) -> Vec<String>
where
    E: DomainEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    let rec = &golden.record;
    let Some(task) = tasks.get(&rec.task_id) else {
        return vec![format!("task `{}` not found in {}", rec.task_id, tasks.path.display())];
    };
    let termination = match rec.termination() {
        Some(Ok(t)) => t,
        Some(Err(e)) => return vec![e.to_string()],
        None => return vec!["record has no termination_reason".into()],
    };
    let messages = match rec.messages() {
        Ok(m) => m,
        Err(e) => return vec![format!("trajectory: {e}")],
    };
    let evaluation = match evaluator.evaluate(task, &messages, termination) {
        Ok(e) => e,
        Err(e) => return vec![format!("evaluation failed: {e}")],
    };
    let actual = evaluation.reward_info.to_json();
    let mut problems = json_differences(&golden.expected, &actual, DIFFERENCES_SHOWN);
    if !problems.is_empty() {
        let reward = |v: &Value| v.get("reward").map(Value::to_string).unwrap_or_else(|| "-".into());
        problems.insert(0, format!("reward_info differs (reward: expected {}, got {})", reward(&golden.expected), reward(&actual)));
        problems.extend(evaluation.notes.iter().map(|n| format!("note: {n}")));
    }
    problems
}

/// Adds the `evals` category to `report`: every record of `<golden_dir>/evals.jsonl`
/// (nothing when the file is absent) re-scored with one evaluator over environments made by
/// `factory`, against tasks from `tasks_dir` (the domain's τ² data folder). Records the
/// reference could not produce (`generation_error`) are skipped with a note. Only a missing
/// or malformed golden file aborts.
pub fn check_evals<E, F>(golden_dir: &Path, tasks_dir: &Path, factory: F, report: &mut DomainReport) -> Result<(), ConformanceError>
where
    E: DomainEnv,
    F: FnMut() -> Result<E, E::Error>,
{
    let path = golden_dir.join("evals.jsonl");
    if !path.is_file() {
        return Ok(());
    }
    let records = read_golden_evals(&path)?;
    let mut evaluator = Evaluator::new(factory).with_config(EvalConfig::default());
    let mut task_sets: HashMap<TaskVersion, Result<TaskSet, String>> = HashMap::new();
    for g in &records {
        let id = record_id(&g.record);
        if let Some(err) = &g.record.generation_error {
            report.skip(Category::Evals, format!("eval {id}: skipped, reference generation error: {err}"));
            continue;
        }
        let version_text = g.record.version.as_deref().unwrap_or("v1.0");
        let Some(version) = TaskVersion::parse(version_text) else {
            report.record(Category::Evals, id, vec![format!("unknown task version `{version_text}`")]);
            continue;
        };
        let set = task_sets.entry(version).or_insert_with(|| TaskSet::load(tasks_dir, version, None).map_err(|e| e.to_string()));
        let problems = match set {
            Ok(tasks) => check_eval(g, tasks, &mut evaluator),
            Err(e) => vec![format!("cannot load tasks: {e}")],
        };
        report.record(Category::Evals, id, problems);
    }
    Ok(())
}
