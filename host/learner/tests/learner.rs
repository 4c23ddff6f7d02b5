//! CPU tests of the learner: gradient checks, SFT, an honest GRPO learning test with its
//! no-advantage control, dynamic filtering, checkpoints and their failure modes.

use std::path::Path;

use eigenbox_learner::checkpoint::{model_config_json, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE};
use eigenbox_learner::data::*;
use eigenbox_learner::grpo::*;
use eigenbox_learner::loss::*;
use eigenbox_learner::metrics::MetricsLog;
use eigenbox_learner::optim::{AdamWConfig, LrSchedule};
use eigenbox_learner::sft::{SftConfig, SftTrainer};
use eigenbox_learner::{LearnerError, Rng};
use eigenbox_model::{generate, Arch, CausalLm, ModelConfig, SamplingParams, Transformer};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn tiny_model(seed: i64, vocab: i64) -> (VarStore, Transformer, ModelConfig) {
    // Tests run in parallel on few cores: one intra-op thread each.
    tch::set_num_threads(1);
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let cfg = ModelConfig::tiny(Arch::Qwen2, vocab);
    let m = Transformer::new(&vs.root(), &cfg).expect("tiny model");
    (vs, m, cfg)
}

fn params_snapshot(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn max_diff(a: &[(String, Tensor)], b: &[(String, Tensor)]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|((na, ta), (nb, tb))| {
            assert_eq!(na, nb);
            (ta - tb).abs().max().double_value(&[])
        })
        .fold(0.0, f64::max)
}

/// Central finite differences of `f` at every entry of `x` (f64) against autograd.
fn fd_check(x: &Tensor, f: &dyn Fn(&Tensor) -> Tensor) -> f64 {
    let xv = x.detach().copy().set_requires_grad(true);
    f(&xv).backward();
    let grad = xv.grad().flatten(0, -1);
    let base: Vec<f64> = Vec::try_from(&x.flatten(0, -1)).unwrap();
    let h = 1e-6;
    let mut worst = 0.0f64;
    for i in 0..base.len() {
        let eval = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            let t = Tensor::from_slice(&v).view(x.size().as_slice());
            tch::no_grad(|| f(&t).double_value(&[]))
        };
        let num = (eval(h) - eval(-h)) / (2.0 * h);
        let ana = grad.double_value(&[i as i64]);
        worst = worst.max((num - ana).abs() / (1.0 + ana.abs()));
    }
    worst
}

#[test]
fn finite_difference_masked_ce() {
    tch::manual_seed(1);
    let logits = Tensor::randn([2, 5, 7], (Kind::Double, Device::Cpu));
    let ids = Tensor::randint(7, [2, 5], (Kind::Int64, Device::Cpu));
    let mask =
        Tensor::from_slice(&[0.0f64, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0]).view([2, 5]);
    let err = fd_check(&logits, &|l| masked_ce(l, &ids, &mask).unwrap());
    assert!(err < 1e-6, "masked CE gradient error {err}");
    // Masked-out positions get no gradient.
    let l = logits.detach().copy().set_requires_grad(true);
    masked_ce(&l, &ids, &mask).unwrap().backward();
    assert_eq!(
        l.grad()
            .get(0)
            .get(1)
            .abs()
            .sum(Kind::Double)
            .double_value(&[]),
        0.0
    );
}

#[test]
fn finite_difference_clipped_grpo_loss() {
    tch::manual_seed(2);
    let logits = Tensor::randn([3, 6, 5], (Kind::Double, Device::Cpu));
    let ids = Tensor::randint(5, [3, 6], (Kind::Int64, Device::Cpu));
    let mask = Tensor::from_slice(&[
        0.0f64, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0,
    ])
    .view([3, 6]);
    let lp0 = tch::no_grad(|| token_logprobs(&logits, &ids).unwrap());
    // Old log probabilities off by up to ±0.8 so that many ratios fall outside [0.8, 1.2].
    let old = &lp0 + (Tensor::rand([3, 5], (Kind::Double, Device::Cpu)) * 3.0 - 1.5);
    let refp = &lp0 + Tensor::randn([3, 5], (Kind::Double, Device::Cpu)) * 0.3;
    let adv = Tensor::from_slice(&[1.3f64, -0.7, 0.4]);
    let cfg = ClipConfig {
        clip_low: 0.2,
        clip_high: 0.28,
        kl_coef: 0.1,
    };
    for agg in [LossAgg::Token, LossAgg::Sequence] {
        let f = |l: &Tensor| {
            let new = token_logprobs(l, &ids).unwrap();
            let t = grpo_terms(&new, &old, &adv, Some(&refp), &cfg).unwrap();
            aggregate(&t.per_token, &shifted_mask(&mask, Kind::Double), agg, 7.0)
        };
        let err = fd_check(&logits, &f);
        assert!(err < 1e-6, "{agg:?}: GRPO gradient error {err}");
    }
    let new = token_logprobs(&logits, &ids).unwrap();
    let t = grpo_terms(&new, &old, &adv, None, &cfg).unwrap();
    let m = shifted_mask(&mask, Kind::Double);
    let frac = (&t.clipped * &m).sum(Kind::Double).double_value(&[])
        / m.sum(Kind::Double).double_value(&[]);
    assert!(
        frac > 0.1 && frac < 0.95,
        "the check must exercise both branches, clip fraction {frac}"
    );
}

#[test]
fn sft_lowers_loss_on_toy_set() {
    let (vs, model, _) = tiny_model(3, 32);
    // Sequences a, a+1, a+2, ... (mod 32); loss on the second half only.
    let data: Vec<SftExample> = (0..32)
        .map(|a| SftExample {
            ids: (0..12).map(|i| (a + i) % 32).collect(),
            loss_mask: (0..12).map(|i| i >= 6).collect(),
        })
        .collect();
    let cfg = SftConfig {
        micro_batch_size: 4,
        grad_accum_steps: 2,
        schedule: LrSchedule {
            peak_lr: 1e-2,
            min_lr: 1e-3,
            warmup_steps: 5,
            total_steps: 60,
        },
        progress: false,
        ..SftConfig::default()
    };
    let mut tr = SftTrainer::new(&vs, cfg).unwrap();
    let before = tr.eval_loss(&model, &data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut log = MetricsLog::open(&dir.path().join("sft.jsonl")).unwrap();
    let stats = tr.train(&model, &data, 60, Some(&mut log)).unwrap();
    let after = tr.eval_loss(&model, &data).unwrap();
    assert!(before > 3.0, "random init near ln 32 = 3.47, got {before}");
    assert!(after < 0.5 * before, "loss {before} -> {after}");
    assert!(stats
        .iter()
        .all(|s| s.trained_tokens == 8 * 6 && s.grad_norm.is_finite()));
    log.write_svg(&dir.path().join("sft.svg"), &["loss", "grad_norm", "lr"])
        .unwrap();
    let svg = std::fs::read_to_string(dir.path().join("sft.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));
}

/// Byte-level toy chat template: a role header token, then the content's bytes.
struct ToyEncoder;
impl DialogueEncoder for ToyEncoder {
    fn encode(&self, rec: &DialogueRecord) -> eigenbox_learner::Result<(Vec<i64>, Vec<TokenRole>)> {
        let (mut ids, mut roles) = (vec![], vec![]);
        for m in &rec.messages {
            let (hdr, role) = match m["role"].as_str() {
                Some("system") => (256, TokenRole::System),
                Some("user") => (257, TokenRole::User),
                Some("assistant") => (258, TokenRole::Assistant),
                _ => (259, TokenRole::Tool),
            };
            ids.push(hdr);
            roles.push(TokenRole::Template);
            let text = m["content"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| m["tool_calls"].to_string());
            for b in text.bytes() {
                ids.push(b as i64);
                roles.push(role);
            }
        }
        Ok((ids, roles))
    }
}

#[test]
fn jsonl_dialogues_mask_the_trained_role() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.jsonl");
    std::fs::write(&p, concat!(
        r#"{"messages":[{"role":"system","content":"s"},{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"ok"},{"role":"assistant","content":"done"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
        "\n\n",
        r#"{"messages":[{"role":"user","content":"only user"}]}"#,
        "\n"
    )).unwrap();
    let agent = load_dialogues_jsonl(&p, &ToyEncoder, TrainRole::Agent, 4096).unwrap();
    assert_eq!(agent.examples.len(), 1);
    assert_eq!(agent.skipped_untrained, 1);
    let ex = &agent.examples[0];
    let (ids, roles) = ToyEncoder
        .encode(
            &serde_json::from_str(std::fs::read_to_string(&p).unwrap().lines().next().unwrap())
                .unwrap(),
        )
        .unwrap();
    assert_eq!(ex.ids, ids);
    for (m, r) in ex.loss_mask.iter().zip(&roles) {
        assert_eq!(*m, *r == TokenRole::Assistant);
    }
    let user = load_dialogues_jsonl(&p, &ToyEncoder, TrainRole::UserSimulator, 4096).unwrap();
    assert_eq!(user.examples.len(), 2);
    assert_eq!(user.examples[1].trained_tokens(), "only user".len());
    // Batching pads right and masks the padding.
    let b = collate(&[&user.examples[0], &user.examples[1]], 0, 260, Device::Cpu).unwrap();
    assert_eq!(b.ids.size(), [2, user.examples[0].ids.len() as i64]);
    assert_eq!(
        b.trained_tokens,
        user.examples[0].trained_tokens() + user.examples[1].trained_tokens()
    );
    // Errors carry file and line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n{\"messages\":[{\"role\":\"robot\"}]}\n").unwrap();
    let e = load_dialogues_jsonl(&bad, &ToyEncoder, TrainRole::Agent, 64).unwrap_err();
    assert!(matches!(e, LearnerError::Data { line: 2, .. }), "{e}");
    assert!(e.to_string().contains("robot"));
    let e = load_dialogues_jsonl(
        &dir.path().join("missing.jsonl"),
        &ToyEncoder,
        TrainRole::Agent,
        64,
    )
    .unwrap_err();
    assert!(matches!(e, LearnerError::Io { .. }));
    assert!(collate(
        &[&SftExample {
            ids: vec![1, 300],
            loss_mask: vec![false, true]
        }],
        0,
        260,
        Device::Cpu
    )
    .is_err());
}

// ---- GRPO on a verifiable toy task -------------------------------------------------------

const BOS: i64 = 10;
const VOCAB: i64 = 16;

fn digit_source() -> impl RolloutSource<Transformer> {
    LocalRollouts {
        prompts: |rng: &mut Rng| {
            let d = rng.below(10) as i64;
            (format!("digit-{d}"), vec![BOS, d])
        },
        generator: ModelGenerator {
            params: SamplingParams {
                temperature: 1.0,
                top_p: 1.0,
                max_new_tokens: 1,
                ..SamplingParams::default()
            },
        },
        reward: |p: &[i64], c: &[i64]| f64::from(c.first() == Some(&((p[1] + 1) % 10))),
    }
}

/// Success rate of sampled first tokens (temperature 1), 20 samples for each digit.
fn success_rate(m: &Transformer) -> f64 {
    let prompts: Vec<Vec<i64>> = (0..200).map(|i| vec![BOS, i % 10]).collect();
    let p = SamplingParams {
        temperature: 1.0,
        top_p: 1.0,
        max_new_tokens: 1,
        stop_token_ids: vec![],
        stop_sequences: vec![],
        seed: 12345,
    };
    let g = generate(m, &prompts, &p).unwrap();
    g.iter()
        .zip(&prompts)
        .filter(|(g, p)| g.tokens[0] == (p[1] + 1) % 10)
        .count() as f64
        / 200.0
}

fn grpo_cfg(advantage_scale: f64) -> GrpoConfig {
    GrpoConfig {
        group_size: 8,
        groups_per_step: 16,
        max_groups_sampled: 48,
        micro_batch_size: 32,
        advantage_scale,
        schedule: LrSchedule::constant(1e-2),
        optimizer: AdamWConfig {
            beta2: 0.99,
            ..AdamWConfig::default()
        },
        progress: false,
        seed: 7,
        ..GrpoConfig::default()
    }
}

#[test]
fn grpo_learns_digit_successor_and_control_does_not() {
    let run = |scale: f64| {
        let (vs, model, _) = tiny_model(11, VOCAB);
        let before = success_rate(&model);
        let mut tr = GrpoTrainer::new(&vs, grpo_cfg(scale)).unwrap();
        let mut src = digit_source();
        let dir = tempfile::tempdir().unwrap();
        let mut log = MetricsLog::open(&dir.path().join("grpo.jsonl")).unwrap();
        let stats = tr
            .train(&model, None, &mut src, 30, Some(&mut log))
            .unwrap();
        let keys = [
            "reward_mean",
            "filtered_frac",
            "clip_frac",
            "entropy",
            "grad_norm",
            "kl",
        ];
        log.write_svg(&dir.path().join("grpo.svg"), &keys).unwrap();
        assert_eq!(
            MetricsLog::open(&dir.path().join("grpo.jsonl"))
                .unwrap()
                .rows()
                .len(),
            30
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("grpo.svg"))
                .unwrap()
                .matches("<polyline")
                .count(),
            keys.len()
        );
        (before, success_rate(&model), stats)
    };
    let (before, after, stats) = run(1.0);
    let (c_before, c_after, _) = run(0.0);
    eprintln!("GRPO success {before:.3} -> {after:.3}; control {c_before:.3} -> {c_after:.3}");
    eprintln!(
        "rollout {:.1} s, update {:.1} s",
        stats.iter().map(|s| s.rollout_s).sum::<f64>(),
        stats.iter().map(|s| s.update_s).sum::<f64>()
    );
    eprintln!(
        "reward by step: {:?}",
        stats
            .iter()
            .map(|s| (s.reward_mean * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    );
    assert!(before < 0.25, "starts near chance (1/16), got {before}");
    assert!(
        after > 0.8,
        "GRPO should reach a high success rate, got {after}"
    );
    assert!(
        c_after < 0.25 && (c_after - c_before).abs() < 0.1,
        "control moved: {c_before} -> {c_after}"
    );
    assert!(
        stats.iter().any(|s| s.groups_filtered > 0),
        "early all-zero groups are filtered"
    );
    assert!(stats
        .iter()
        .filter(|s| !s.skipped)
        .all(|s| s.clip_frac >= 0.0 && s.entropy.is_finite() && s.kl == 0.0));
    let late: Vec<f64> = stats[stats.len() - 5..]
        .iter()
        .map(|s| s.reward_mean)
        .collect();
    assert!(
        late.iter().sum::<f64>() / 5.0 > 0.7,
        "training reward of the last steps {late:?}"
    );
}

/// A scripted source: groups alternate between degenerate (all reward 1) and mixed.
struct Scripted {
    calls: usize,
}
impl RolloutSource<Transformer> for Scripted {
    fn next_group(
        &mut self,
        _: &Transformer,
        req: &RolloutRequest,
    ) -> eigenbox_learner::Result<RolloutGroup> {
        self.calls += 1;
        let degenerate = !self.calls.is_multiple_of(3);
        let trajectories = (0..req.group_size)
            .map(|i| Trajectory {
                ids: vec![BOS, 3, 4, 5],
                old_logprobs: vec![0.0, 0.0, -2.7, -2.7],
                trained: vec![false, false, true, true],
                reward: if degenerate { 1.0 } else { (i % 2) as f64 },
            })
            .collect();
        Ok(RolloutGroup {
            task_id: format!("g{}", self.calls),
            trajectories,
        })
    }
}

#[test]
fn dynamic_filtering_drops_and_refills() {
    let (vs, model, _) = tiny_model(5, VOCAB);
    let cfg = GrpoConfig {
        group_size: 4,
        groups_per_step: 2,
        max_groups_sampled: 8,
        progress: false,
        ..grpo_cfg(1.0)
    };
    let mut tr = GrpoTrainer::new(&vs, cfg.clone()).unwrap();
    let mut src = Scripted { calls: 0 };
    let st = tr.step(&model, None, &mut src).unwrap();
    // Calls 1,2 degenerate, 3 kept, 4,5 degenerate, 6 kept.
    assert_eq!(
        (st.groups_sampled, st.groups_filtered, st.groups_kept),
        (6, 4, 2)
    );
    assert!(!st.refill_exhausted && !st.skipped);
    assert!((st.filtered_frac - 4.0 / 6.0).abs() < 1e-12);
    // A budget too small: reported, and with nothing kept, no update.
    let mut tr = GrpoTrainer::new(
        &vs,
        GrpoConfig {
            max_groups_sampled: 2,
            ..cfg.clone()
        },
    )
    .unwrap();
    let before = params_snapshot(&vs);
    let st = tr.step(&model, None, &mut Scripted { calls: 0 }).unwrap();
    assert!(st.refill_exhausted && st.skipped && st.groups_kept == 0);
    assert_eq!(max_diff(&before, &params_snapshot(&vs)), 0.0);
    // Filtering off: degenerate groups are trained on (zero advantage).
    let mut tr = GrpoTrainer::new(
        &vs,
        GrpoConfig {
            dynamic_filtering: false,
            ..cfg
        },
    )
    .unwrap();
    let st = tr.step(&model, None, &mut Scripted { calls: 0 }).unwrap();
    assert_eq!((st.groups_sampled, st.groups_filtered), (2, 0));
    // Malformed rollouts are typed errors.
    let bad = RolloutGroup {
        task_id: "x".into(),
        trajectories: vec![
            Trajectory {
                ids: vec![1, 2],
                old_logprobs: vec![0.0],
                trained: vec![false, true],
                reward: 0.0
            };
            4
        ],
    };
    assert!(matches!(
        bad.validate(4, VOCAB),
        Err(LearnerError::Rollout(_))
    ));
}

#[test]
fn kl_to_reference_is_zero_for_identical_models() {
    let (vs, model, _) = tiny_model(5, VOCAB);
    let (mut vs2, reference, _) = tiny_model(5, VOCAB);
    // Identical weights even when a test running in parallel drew from the global RNG.
    vs2.copy(&vs).unwrap();
    let cfg = GrpoConfig {
        clip: ClipConfig {
            clip_low: 0.4,
            clip_high: 0.4,
            kl_coef: 0.05,
        },
        ..grpo_cfg(1.0)
    };
    let mut tr = GrpoTrainer::new(&vs, cfg).unwrap();
    let mut src = Scripted { calls: 2 };
    let st = tr
        .step(&model, Some(&reference as &dyn CausalLm), &mut src)
        .unwrap();
    assert!(st.kl.abs() < 1e-6, "{}", st.kl);
    let st = tr
        .step(&model, Some(&reference as &dyn CausalLm), &mut src)
        .unwrap();
    assert!(
        st.kl > 0.0,
        "after an update the policy differs from the reference"
    );
}

#[test]
fn checkpoint_resume_gives_identical_next_step() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, model, mcfg) = tiny_model(21, VOCAB);
    let mj = model_config_json(&mcfg);
    let cfg = GrpoConfig {
        schedule: LrSchedule {
            peak_lr: 1e-2,
            min_lr: 1e-3,
            warmup_steps: 2,
            total_steps: 10,
        },
        ..grpo_cfg(1.0)
    };
    let mut tr = GrpoTrainer::new(&vs, cfg.clone()).unwrap();
    let mut src = digit_source();
    tr.train(&model, None, &mut src, 2, None).unwrap();
    tr.save(dir.path(), &vs, &mj).unwrap();
    let next = tr.step(&model, None, &mut src).unwrap();
    let want = params_snapshot(&vs);

    let (vs2, model2, _) = tiny_model(99, VOCAB);
    let mut tr2 = GrpoTrainer::resume(&vs2, cfg.clone(), dir.path(), &mj).unwrap();
    assert_eq!(tr2.step_count(), 2);
    let mut src2 = digit_source();
    let next2 = tr2.step(&model2, None, &mut src2).unwrap();
    let d = max_diff(&want, &params_snapshot(&vs2));
    assert!(d <= 1e-6, "resumed step differs by {d}");
    assert_eq!(next.reward_mean, next2.reward_mean);
    assert!((next.loss - next2.loss).abs() <= 1e-6 && (next.lr - next2.lr).abs() < 1e-15);

    // SFT resume too (data cursor and optimizer moments).
    let data: Vec<SftExample> = (0..10)
        .map(|a| SftExample {
            ids: vec![BOS, a, (a + 1) % 10, (a + 2) % 10],
            loss_mask: vec![false, true, true, true],
        })
        .collect();
    let scfg = SftConfig {
        micro_batch_size: 3,
        grad_accum_steps: 2,
        schedule: LrSchedule::constant(1e-2),
        progress: false,
        ..SftConfig::default()
    };
    let (vs3, m3, _) = tiny_model(4, VOCAB);
    let mut s3 = SftTrainer::new(&vs3, scfg.clone()).unwrap();
    s3.train(&m3, &data, 2, None).unwrap();
    let sdir = dir.path().join("sft");
    s3.save(&sdir, &vs3, &mj).unwrap();
    s3.train_step(&m3, &data).unwrap();
    let (vs4, m4, _) = tiny_model(8, VOCAB);
    let mut s4 = SftTrainer::resume(&vs4, scfg, &sdir, &mj).unwrap();
    s4.train_step(&m4, &data).unwrap();
    let d = max_diff(&params_snapshot(&vs3), &params_snapshot(&vs4));
    assert!(d <= 1e-6, "resumed SFT step differs by {d}");
}

fn corrupt(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0xFF;
    std::fs::write(path, b).unwrap();
}

#[test]
fn bad_checkpoints_and_configs_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (vs, model, mcfg) = tiny_model(1, VOCAB);
    let mj = model_config_json(&mcfg);
    let cfg = grpo_cfg(1.0);
    let mut tr = GrpoTrainer::new(&vs, cfg.clone()).unwrap();
    tr.step(&model, None, &mut Scripted { calls: 2 }).unwrap();
    let ck = |name: &str| {
        let d = dir.path().join(name);
        tr.save(&d, &vs, &mj).unwrap();
        d
    };
    let fresh = || tiny_model(2, VOCAB).0;

    // Config mismatch: another model config is refused with the field named.
    let d = ck("cfg");
    let mut other = mj.clone();
    other["hidden_size"] = serde_json::json!(128);
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &other)
        .err()
        .unwrap();
    assert!(
        matches!(&e, LearnerError::ConfigMismatch { field, .. } if field == "model_config.hidden_size"),
        "{e}"
    );
    // Wrong trainer kind.
    let e = SftTrainer::resume(&fresh(), SftConfig::default(), &d, &mj)
        .err()
        .unwrap();
    assert!(
        matches!(&e, LearnerError::ConfigMismatch { field, .. } if field == "trainer"),
        "{e}"
    );

    // Wrong shapes: a wider model with the same config JSON.
    let vs_wide = VarStore::new(Device::Cpu);
    let _wide = Transformer::new(
        &vs_wide.root(),
        &ModelConfig {
            intermediate_size: 96,
            ..mcfg.clone()
        },
    )
    .unwrap();
    let e = GrpoTrainer::resume(&vs_wide, cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(
        matches!(&e, LearnerError::TensorMismatch { name, .. } if name.contains("mlp")),
        "{e}"
    );
    // Missing / extra tensors: an architecture with other parameter names.
    let vs_q3 = VarStore::new(Device::Cpu);
    let _q3 = Transformer::new(&vs_q3.root(), &ModelConfig::tiny(Arch::Qwen3, VOCAB)).unwrap();
    let e = GrpoTrainer::resume(&vs_q3, cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            LearnerError::MissingTensor { .. } | LearnerError::UnexpectedTensor { .. }
        ),
        "{e}"
    );

    // Corrupt tensor data (checksum), corrupt header, truncated file, bad JSON, version.
    let d = ck("data");
    corrupt(&d.join(MODEL_FILE), 5000);
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(
        matches!(&e, LearnerError::CorruptCheckpoint { msg, .. } if msg.contains("SHA-256")),
        "{e}"
    );
    let d = ck("header");
    let sp = d.join(STATE_FILE);
    let mut st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
    st["sha256"] = serde_json::json!({});
    std::fs::write(&sp, st.to_string()).unwrap();
    corrupt(&d.join(OPTIMIZER_FILE), 3);
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(matches!(e, LearnerError::CorruptCheckpoint { .. }), "{e}");
    let d = ck("trunc");
    let mp = d.join(MODEL_FILE);
    let len = std::fs::metadata(&mp).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&mp)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(matches!(e, LearnerError::CorruptCheckpoint { .. }), "{e}");
    let d = ck("json");
    std::fs::write(d.join(STATE_FILE), "{not json").unwrap();
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(matches!(e, LearnerError::CorruptCheckpoint { .. }), "{e}");
    let d = ck("version");
    let sp = d.join(STATE_FILE);
    let mut st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
    st["format_version"] = serde_json::json!(99);
    std::fs::write(&sp, st.to_string()).unwrap();
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &d, &mj)
        .err()
        .unwrap();
    assert!(
        matches!(e, LearnerError::CheckpointVersion { found: 99, .. }),
        "{e}"
    );
    let e = GrpoTrainer::resume(&fresh(), cfg.clone(), &dir.path().join("nope"), &mj)
        .err()
        .unwrap();
    assert!(matches!(e, LearnerError::Io { .. }), "{e}");
    // A failed load leaves the model untouched.
    let v = fresh();
    let before = params_snapshot(&v);
    let _ = GrpoTrainer::resume(&v, cfg.clone(), &dir.path().join("data"), &mj);
    assert_eq!(max_diff(&before, &params_snapshot(&v)), 0.0);

    // Invalid configs.
    for bad in [
        GrpoConfig {
            group_size: 1,
            ..cfg.clone()
        },
        GrpoConfig {
            max_groups_sampled: 1,
            ..cfg.clone()
        },
        GrpoConfig {
            clip: ClipConfig {
                clip_low: 1.5,
                clip_high: 0.4,
                kl_coef: 0.0,
            },
            ..cfg.clone()
        },
        GrpoConfig {
            schedule: LrSchedule {
                peak_lr: 1e-3,
                min_lr: 1e-2,
                warmup_steps: 0,
                total_steps: 10,
            },
            ..cfg.clone()
        },
    ] {
        assert!(matches!(
            GrpoTrainer::new(&vs, bad).err(),
            Some(LearnerError::Config(_))
        ));
    }
    assert!(matches!(
        SftTrainer::new(
            &vs,
            SftConfig {
                micro_batch_size: 0,
                ..SftConfig::default()
            }
        )
        .err(),
        Some(LearnerError::Config(_))
    ));
}

/// The model seen only through `CausalLm::forward`: the trainers then use full logits.
struct LogitsOnly(Transformer);
impl CausalLm for LogitsOnly {
    fn forward(&self, ids: &Tensor) -> Tensor {
        self.0.forward(ids)
    }
    fn vocab_size(&self) -> i64 {
        self.0.vocab_size()
    }
}

fn moments(opt: &eigenbox_learner::optim::AdamW) -> Vec<(String, Tensor)> {
    opt.state_tensors()
        .into_iter()
        .filter(|(n, _)| n.starts_with("exp_avg."))
        .collect()
}

#[test]
fn chunked_head_matches_full_logits() {
    // Several head chunks of 5 rows; lr 0, so the first moments are 0.1 · (clipped) gradients.
    eigenbox_learner::head::set_chunk_elements(Some(5 * VOCAB));
    let data: Vec<SftExample> = (0..6)
        .map(|a| SftExample {
            ids: (0..(5 + a as usize)).map(|i| (a + 3 * i as i64) % VOCAB).collect(),
            loss_mask: (0..(5 + a as usize)).map(|i| i % 3 != 0).collect(),
        })
        .collect();
    let scfg = SftConfig {
        micro_batch_size: 3,
        grad_accum_steps: 2,
        schedule: LrSchedule::constant(0.0),
        max_grad_norm: None,
        progress: false,
        ..SftConfig::default()
    };
    let (vs1, m1, _) = tiny_model(31, VOCAB);
    let (mut vs2, m2, _) = tiny_model(31, VOCAB);
    // Identical weights (the global RNG is shared with tests running in parallel).
    vs2.copy(&vs1).unwrap();
    let m2 = LogitsOnly(m2);
    let mut t1 = SftTrainer::new(&vs1, scfg.clone()).unwrap();
    let mut t2 = SftTrainer::new(&vs2, scfg).unwrap();
    let s1 = t1.train_step(&m1, &data).unwrap();
    let s2 = t2.train_step(&m2, &data).unwrap();
    assert!((s1.loss - s2.loss).abs() < 1e-5, "{} vs {}", s1.loss, s2.loss);
    assert!((s1.grad_norm - s2.grad_norm).abs() < 1e-5 * s2.grad_norm, "{} vs {}", s1.grad_norm, s2.grad_norm);
    let d = max_diff(&moments(t1.optimizer()), &moments(t2.optimizer()));
    assert!(d < 1e-6, "SFT gradients differ by {d}");
    assert!((t1.eval_loss(&m1, &data).unwrap() - t2.eval_loss(&m2, &data).unwrap()).abs() < 1e-5);

    // GRPO with both aggregations, a KL reference, entropy, off-policy old log probs.
    let (_vr, reference, _) = tiny_model(32, VOCAB);
    let mut rng = Rng::new(5);
    let groups: Vec<RolloutGroup> = (0..2)
        .map(|k| RolloutGroup {
            task_id: format!("g{k}"),
            trajectories: (0..4)
                .map(|j| {
                    let n = 6 + j;
                    Trajectory {
                        ids: (0..n).map(|_| rng.below(VOCAB as u64) as i64).collect(),
                        old_logprobs: (0..n).map(|i| -1.0 - 0.7 * ((i + j + k) % 4) as f32).collect(),
                        trained: (0..n).map(|i| i >= 2).collect(),
                        reward: ((j + k) % 3) as f64,
                    }
                })
                .collect(),
        })
        .collect();
    for agg in [LossAgg::Token, LossAgg::Sequence] {
        let cfg = GrpoConfig {
            micro_batch_size: 3,
            loss_agg: agg,
            max_grad_norm: None,
            clip: ClipConfig { clip_low: 0.2, clip_high: 0.28, kl_coef: 0.1 },
            schedule: LrSchedule::constant(0.0),
            ..grpo_cfg(1.0)
        };
        let (vs1, m1, _) = tiny_model(33, VOCAB);
        let (mut vs2, m2, _) = tiny_model(33, VOCAB);
        vs2.copy(&vs1).unwrap();
        let m2 = LogitsOnly(m2);
        let mut g1 = GrpoTrainer::new(&vs1, cfg.clone()).unwrap();
        let mut g2 = GrpoTrainer::new(&vs2, cfg).unwrap();
        let r: &dyn CausalLm = &reference;
        let u1 = g1.update(&m1, Some(r), &groups).unwrap();
        let u2 = g2.update(&m2, Some(r), &groups).unwrap();
        for (a, b, what) in [
            (u1.loss, u2.loss, "loss"),
            (u1.clip_frac, u2.clip_frac, "clip_frac"),
            (u1.kl, u2.kl, "kl"),
            (u1.ratio_mean, u2.ratio_mean, "ratio"),
            (u1.entropy, u2.entropy, "entropy"),
            (u1.grad_norm, u2.grad_norm, "grad_norm"),
        ] {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{agg:?} {what}: {a} vs {b}");
        }
        assert!(u1.clip_frac > 0.0 && u1.clip_frac < 1.0, "{}", u1.clip_frac);
        let d = max_diff(&moments(g1.optimizer()), &moments(g2.optimizer()));
        assert!(d < 1e-6, "{agg:?}: GRPO gradients differ by {d}");
        let _ = (&vs1, &vs2);
    }

    // bf16 weights (fp32 masters): the bf16 gradient written by the scaling kernel and the
    // fp32 accumulation of the head gradient over chunks, against bf16 full logits.
    let scfg = SftConfig {
        micro_batch_size: 6,
        grad_accum_steps: 1,
        schedule: LrSchedule::constant(0.0),
        max_grad_norm: None,
        progress: false,
        ..SftConfig::default()
    };
    let (mut vs1, m1, _) = tiny_model(34, VOCAB);
    let (mut vs2, m2, _) = tiny_model(34, VOCAB);
    vs2.copy(&vs1).unwrap();
    let m2 = LogitsOnly(m2);
    vs1.bfloat16();
    vs2.bfloat16();
    let mut t1 = SftTrainer::new(&vs1, scfg.clone()).unwrap();
    let mut t2 = SftTrainer::new(&vs2, scfg).unwrap();
    let s1 = t1.train_step(&m1, &data).unwrap();
    let s2 = t2.train_step(&m2, &data).unwrap();
    assert!((s1.loss - s2.loss).abs() < 1e-3 * s2.loss, "bf16 loss {} vs {}", s1.loss, s2.loss);
    assert!((s1.grad_norm - s2.grad_norm).abs() < 2e-2 * s2.grad_norm, "bf16 grad norm {} vs {}", s1.grad_norm, s2.grad_norm);
    eigenbox_learner::head::set_chunk_elements(None);
}

#[test]
fn bench_tiny_cpu_smoke() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let args = eigenbox_learner::bench::Args::parse_from([
        "learner-bench",
        "--preset",
        "tiny",
        "--device",
        "cpu",
        "--warmup",
        "1",
        "--iters",
        "1",
        "--batch",
        "2",
        "--seq",
        "32",
        "--out",
        out.to_str().unwrap(),
    ]);
    let r = eigenbox_learner::bench::run(args).unwrap();
    for k in ["sft", "grpo", "generation"] {
        assert!(r[k]["tokens_per_s"].as_f64().unwrap() > 0.0, "{k}: {r}");
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(written["preset"], "tiny");
}

/// A byte-level BPE tokenizer with no merges (ids 0..256 = bytes) plus ChatML specials.
fn byte_tokenizer() -> eigenbox_model::Tokenizer {
    eigenbox_model::Tokenizer::byte_level_chatml().expect("byte-level tokenizer")
}

#[test]
fn jsonl_through_model_crate_encode_dialogue() {
    let enc = ModelEncoder {
        tokenizer: byte_tokenizer(),
        template: eigenbox_model::ChatTemplate::ChatMl {
            default_system: None,
        },
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.jsonl");
    std::fs::write(&p, concat!(
        r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"book 1A"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"book","arguments":"{\"seat\":\"1A\"}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"},{"role":"assistant","content":"Booked."},{"role":"user","content":"thanks"}],"tools":[{"type":"function","function":{"name":"book","description":"book a seat","parameters":{"type":"object","properties":{"seat":{"type":"string"}}}}}]}"#,
        "\n"
    )).unwrap();
    let agent = load_dialogues_jsonl(&p, &enc, TrainRole::Agent, 4096).unwrap();
    let user = load_dialogues_jsonl(&p, &enc, TrainRole::UserSimulator, 4096).unwrap();
    let (a, u) = (&agent.examples[0], &user.examples[0]);
    assert_eq!(a.ids, u.ids);
    let text = |ex: &SftExample| -> String {
        ex.ids
            .iter()
            .zip(&ex.loss_mask)
            .filter(|(i, m)| **m && **i < 256)
            .map(|(i, _)| *i as u8 as char)
            .collect()
    };
    let (at, ut) = (text(a), text(u));
    assert!(
        at.contains("Booked.") && at.contains("1A") && !at.contains("thanks"),
        "agent tokens: {at:?}"
    );
    assert!(
        ut.contains("book 1A") && ut.contains("thanks") && !ut.contains("Booked"),
        "user tokens: {ut:?}"
    );
    assert!(a.loss_mask.iter().zip(&u.loss_mask).all(|(x, y)| !(x & y)));
    // A message that is not OpenAI-shaped is reported with its line.
    std::fs::write(
        &p,
        "{\"messages\":[{\"role\":\"user\",\"content\":[1,2]}]}\n",
    )
    .unwrap();
    let e = load_dialogues_jsonl(&p, &enc, TrainRole::Agent, 64).unwrap_err();
    assert!(matches!(e, LearnerError::Data { line: 1, .. }), "{e}");
}
