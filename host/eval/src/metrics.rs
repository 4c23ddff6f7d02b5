//! pass^k over trials, as the reference's `tau2.metrics.agent_metrics` computes it.

use std::collections::BTreeMap;

use eigenbox_tau2::TerminationReason;
use serde::{Deserialize, Serialize};

/// Why pass^k cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// Fewer trials than `k`.
    #[error("number of trials {num_trials} is less than k {k}")]
    TooFewTrials {
        /// Trials.
        num_trials: usize,
        /// k.
        k: usize,
    },
    /// More successes than trials.
    #[error("success count {success_count} exceeds the number of trials {num_trials}")]
    TooManySuccesses {
        /// Trials.
        num_trials: usize,
        /// Successes.
        success_count: usize,
    },
}

/// The reference's success test: the reward is 1 within 1e-6.
pub fn is_successful(reward: f64) -> bool {
    ((1.0 - 1e-6)..=(1.0 + 1e-6)).contains(&reward)
}

/// `math.comb(n, k)` when it fits in a `u128`.
fn comb(n: usize, k: usize) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut r: u128 = 1;
    for i in 0..k {
        // r * (n - i) is divisible by (i + 1) at every step.
        r = r.checked_mul((n - i) as u128)? / (i as u128 + 1);
    }
    Some(r)
}

/// pass^k for one task: `comb(success_count, k) / comb(num_trials, k)` (arXiv 2406.12045),
/// the probability that k trials drawn without replacement all succeed.
pub fn pass_hat_k(num_trials: usize, success_count: usize, k: usize) -> Result<f64, MetricsError> {
    if num_trials < k {
        return Err(MetricsError::TooFewTrials { num_trials, k });
    }
    if success_count > num_trials {
        return Err(MetricsError::TooManySuccesses { num_trials, success_count });
    }
    match (comb(success_count, k), comb(num_trials, k)) {
        (Some(s), Some(n)) => Ok(s as f64 / n as f64),
        // Beyond u128 (hundreds of trials): the same ratio as a product of fractions.
        _ => Ok((0..k).map(|i| (success_count as f64 - i as f64) / (num_trials - i) as f64).product::<f64>().max(0.0)),
    }
}

/// One scored trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// The task.
    pub task_id: String,
    /// Its reward; `None` when it could not be computed (NL assertions without a judge).
    pub reward: Option<f64>,
    /// Why the episode ended.
    pub termination: TerminationReason,
}

/// Aggregate metrics over trials.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean reward over the counted trials.
    pub avg_reward: f64,
    /// pass^k for k = 1 ..= the fewest trials any task has: the mean over tasks.
    pub pass_hat_ks: BTreeMap<usize, f64>,
    /// Trials counted.
    pub total_simulations: usize,
    /// Tasks counted.
    pub total_tasks: usize,
    /// Trials excluded because they ended in an infrastructure error (as the reference does).
    pub infra_error_count: usize,
    /// Trials excluded because their reward could not be computed.
    pub not_evaluated_count: usize,
}

impl Metrics {
    /// pass^k for the reference's metric definitions: infrastructure errors are excluded,
    /// success is a reward of 1 (within 1e-6), k runs up to the fewest trials of any task,
    /// and each pass^k is the mean over tasks of [`pass_hat_k`]. Trials without a reward are
    /// excluded too and counted in `not_evaluated_count`.
    pub fn compute(trials: &[Trial]) -> Metrics {
        let infra_error_count = trials.iter().filter(|t| t.termination == TerminationReason::InfrastructureError).count();
        let not_evaluated_count =
            trials.iter().filter(|t| t.termination != TerminationReason::InfrastructureError && t.reward.is_none()).count();
        let counted: Vec<(&str, f64)> = trials
            .iter()
            .filter(|t| t.termination != TerminationReason::InfrastructureError)
            .filter_map(|t| t.reward.map(|r| (t.task_id.as_str(), r)))
            .collect();
        let mut per_task: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (id, r) in &counted {
            let e = per_task.entry(id).or_default();
            e.0 += 1;
            e.1 += usize::from(is_successful(*r));
        }
        let avg_reward = if counted.is_empty() { 0.0 } else { counted.iter().map(|(_, r)| r).sum::<f64>() / counted.len() as f64 };
        let max_k = per_task.values().map(|(n, _)| *n).min().unwrap_or(0);
        let mut pass_hat_ks = BTreeMap::new();
        for k in 1..=max_k {
            // k <= every task's trial count, so pass_hat_k cannot fail here.
            let sum: f64 = per_task.values().map(|(n, s)| pass_hat_k(*n, *s, k).unwrap_or(0.0)).sum();
            pass_hat_ks.insert(k, sum / per_task.len() as f64);
        }
        Metrics {
            avg_reward,
            pass_hat_ks,
            total_simulations: counted.len(),
            total_tasks: per_task.len(),
            infra_error_count,
            not_evaluated_count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pass_hat_k_is_the_ratio_of_binomials() {
        assert_eq!(pass_hat_k(4, 4, 4), Ok(1.0));
        assert_eq!(pass_hat_k(4, 2, 1), Ok(0.5));
        assert_eq!(pass_hat_k(4, 2, 2), Ok(1.0 / 6.0));
        assert_eq!(pass_hat_k(4, 1, 2), Ok(0.0));
        assert_eq!(pass_hat_k(5, 3, 0), Ok(1.0));
        assert_eq!(pass_hat_k(3, 3, 4), Err(MetricsError::TooFewTrials { num_trials: 3, k: 4 }));
        assert!(pass_hat_k(3, 4, 1).is_err());
        // Past u128: still the same ratio (C(199, 100) / C(200, 100) = 100/200).
        let big = pass_hat_k(200, 199, 100).unwrap();
        assert!((big - 0.5).abs() < 1e-12, "{big}");
    }

    #[test]
    fn success_is_a_reward_of_one_within_a_millionth() {
        assert!(is_successful(1.0) && is_successful(1.0 - 1e-7) && !is_successful(0.999) && !is_successful(0.0));
    }

    fn t(id: &str, reward: Option<f64>, termination: TerminationReason) -> Trial {
        Trial { task_id: id.into(), reward, termination }
    }

    #[test]
    fn metrics_average_over_tasks_and_exclude_infrastructure_errors() {
        use TerminationReason::*;
        let trials = vec![
            t("a", Some(1.0), UserStop),
            t("a", Some(1.0), UserStop),
            t("a", Some(0.0), MaxSteps),
            t("b", Some(1.0), AgentStop),
            t("b", Some(0.0), UserStop),
            t("b", Some(0.0), InfrastructureError),
            t("b", None, UserStop),
        ];
        let m = Metrics::compute(&trials);
        assert_eq!((m.total_simulations, m.total_tasks, m.infra_error_count, m.not_evaluated_count), (5, 2, 1, 1));
        assert!((m.avg_reward - 0.6).abs() < 1e-12);
        // b has 2 counted trials, so k stops at 2.
        assert_eq!(m.pass_hat_ks.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert!((m.pass_hat_ks[&1] - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        assert!((m.pass_hat_ks[&2] - (1.0 / 3.0 + 0.0) / 2.0).abs() < 1e-12);
        assert_eq!(Metrics::compute(&[]).pass_hat_ks.len(), 0);
    }
}
