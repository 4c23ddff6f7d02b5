//! AdamW over tensors with fp32 master weights, a warmup + cosine learning-rate schedule and
//! global gradient-norm clipping.
//!
//! Moments (`exp_avg`, `exp_avg_sq`) live in tensors so they can be checkpointed. Parameters
//! held in a reduced precision (bf16/fp16, e.g. after `VarStore::bfloat16()`) get an fp32
//! master copy: the update runs on the master and is cast back into the parameter, so small
//! updates are not lost to bf16 rounding. fp32 and f64 parameters are their own master.

use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::error::{LearnerError, Result};

/// AdamW hyperparameters (the learning rate comes from [`LrSchedule`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay (multiplied by the learning rate).
    pub weight_decay: f64,
    /// Apply weight decay to 1-D parameters (norm weights, biases) too. Default false.
    pub decay_1d: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decay_1d: false,
        }
    }
}

impl AdamWConfig {
    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.beta1) || !(0.0..1.0).contains(&self.beta2) {
            return Err(LearnerError::Config(format!(
                "AdamW betas must lie in [0, 1), got ({}, {})",
                self.beta1, self.beta2
            )));
        }
        if !(self.eps > 0.0) || !(self.weight_decay >= 0.0) {
            return Err(LearnerError::Config(format!(
                "AdamW eps must be > 0 and weight_decay >= 0, got eps {} weight_decay {}",
                self.eps, self.weight_decay
            )));
        }
        Ok(())
    }
}

/// Linear warmup from 0 to `peak_lr` over `warmup_steps`, then cosine decay to `min_lr` at
/// `total_steps` (constant `min_lr` afterwards).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// Learning rate at the end of warmup.
    pub peak_lr: f64,
    /// Final learning rate.
    pub min_lr: f64,
    /// Warmup steps.
    pub warmup_steps: u64,
    /// Total optimizer steps of the run.
    pub total_steps: u64,
}

impl LrSchedule {
    /// A constant learning rate.
    pub fn constant(lr: f64) -> Self {
        LrSchedule {
            peak_lr: lr,
            min_lr: lr,
            warmup_steps: 0,
            total_steps: 1,
        }
    }

    /// Learning rate of optimizer step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup_steps {
            return self.peak_lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay = self.total_steps.saturating_sub(self.warmup_steps);
        if decay == 0 {
            return self.peak_lr;
        }
        let t = ((step - self.warmup_steps) as f64 / decay as f64).min(1.0);
        self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.peak_lr >= 0.0) || !(self.min_lr >= 0.0) || self.min_lr > self.peak_lr {
            return Err(LearnerError::Config(format!(
                "learning rates must satisfy 0 <= min_lr <= peak_lr, got min {} peak {}",
                self.min_lr, self.peak_lr
            )));
        }
        if self.total_steps == 0 {
            return Err(LearnerError::Config("total_steps must be > 0".into()));
        }
        Ok(())
    }
}

/// Offsets of parameters in the flat buffers are multiples of this many elements, so every
/// parameter view keeps the alignment GEMM and vectorised kernels want.
const ALIGN: i64 = 128;

struct Param {
    name: String,
    var: Tensor,
    /// Address of the variable's view of the group's `params` buffer.
    var_ptr: usize,
    /// Views into the group's flat buffers.
    master: Option<Tensor>,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    grad_view: Tensor,
    decay: bool,
}

/// Parameters of one (device, dtype), stored contiguously: the variables themselves are
/// re-pointed (`set_data`) at views of `params`, the optimizer state lives in flat tensors of
/// the same layout, and gradients are re-pointed at views of `grads`, so one step is a dozen
/// large elementwise kernels instead of a dozen per tensor.
struct Group {
    /// The variables' storage (param dtype).
    params: Tensor,
    /// fp32 (or f64) masters; the same tensor as `params` for full-precision parameters.
    master: Tensor,
    has_master: bool,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    /// Gradient storage (param dtype).
    grads: Tensor,
    /// Decayed parameters come first: elements `0..n_decay` get weight decay.
    n_decay: i64,
}

/// What one optimizer step did.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptStep {
    /// Global L2 norm of the gradients before clipping.
    pub grad_norm: f64,
    /// Factor the gradients were scaled by (1 when not clipped).
    pub clip_coef: f64,
    /// Learning rate used.
    pub lr: f64,
}

/// AdamW over the trainable variables of a [`VarStore`], in name order.
///
/// Creating it re-points every trainable variable at a view of one flat buffer per
/// (device, dtype) (`Tensor::set_data`, as `VarStore::set_kind` does; values unchanged), and
/// the optimizer keeps its masters, moments and the gradients in buffers of the same layout.
/// A step is then one fused gradient-norm reduction, one host sync (the norm, for clipping
/// and the non-finite check) and about ten elementwise kernels over the flat buffers. When a
/// parameter has no gradient in a step, or the variables were re-pointed elsewhere since
/// (e.g. `VarStore::set_kind`), the step falls back to per-tensor updates with the same math.
pub struct AdamW {
    cfg: AdamWConfig,
    params: Vec<Param>,
    groups: Vec<Group>,
    steps: u64,
}

fn is_full(kind: Kind) -> bool {
    matches!(kind, Kind::Float | Kind::Double)
}

fn master_kind(kind: Kind) -> Kind {
    if is_full(kind) {
        kind
    } else {
        Kind::Float
    }
}

fn round_up(n: i64) -> i64 {
    (n + ALIGN - 1) / ALIGN * ALIGN
}

fn same_storage(a: &Tensor, b: &Tensor) -> bool {
    a.defined() && b.defined() && a.data_ptr() == b.data_ptr() && a.size() == b.size()
}

impl AdamW {
    /// An optimizer for every trainable variable of `vs` (see the type docs for the flat
    /// re-pointing of the variables).
    pub fn new(vs: &VarStore, cfg: AdamWConfig) -> Result<Self> {
        cfg.validate()?;
        let mut named: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        if named.is_empty() {
            return Err(LearnerError::Config(
                "the VarStore has no trainable variables".into(),
            ));
        }
        // Group by (device, kind); inside a group decayed parameters first, then by name.
        let decays = |t: &Tensor| cfg.decay_1d || t.dim() >= 2;
        let mut keys: Vec<(Device, Kind)> = vec![];
        for (_, t) in &named {
            let k = (t.device(), t.kind());
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
        let mut params: Vec<Param> = Vec::with_capacity(named.len());
        let mut groups = Vec::with_capacity(keys.len());
        tch::no_grad(|| -> Result<()> {
            for &(device, kind) in &keys {
                let mut idx: Vec<usize> = (0..named.len())
                    .filter(|&i| (named[i].1.device(), named[i].1.kind()) == (device, kind))
                    .collect();
                idx.sort_by_key(|&i| !decays(&named[i].1));
                let mut offsets = Vec::with_capacity(idx.len());
                let (mut total, mut n_decay) = (0i64, 0i64);
                for &i in &idx {
                    offsets.push(total);
                    total += round_up(named[i].1.numel() as i64);
                    if decays(&named[i].1) {
                        n_decay = total;
                    }
                }
                let mk = master_kind(kind);
                let flat = Tensor::f_zeros([total], (kind, device))?;
                for (&i, &off) in idx.iter().zip(&offsets) {
                    let t = &named[i].1;
                    flat.narrow(0, off, t.numel() as i64)
                        .f_copy_(&t.detach().reshape([-1]))?;
                }
                let has_master = !is_full(kind);
                let master = if has_master { flat.f_to_kind(mk)? } else { flat.shallow_clone() };
                let exp_avg = Tensor::f_zeros([total], (mk, device))?;
                let exp_avg_sq = Tensor::f_zeros([total], (mk, device))?;
                let grads = Tensor::f_zeros([total], (kind, device))?;
                for (&i, &off) in idx.iter().zip(&offsets) {
                    let (name, var) = &named[i];
                    let n = var.numel() as i64;
                    let shape = var.size();
                    let view = |t: &Tensor| t.narrow(0, off, n).view(shape.as_slice());
                    let mut v = var.shallow_clone();
                    let pv = view(&flat);
                    v.f_set_data(&pv)?;
                    params.push(Param {
                        name: name.clone(),
                        var: var.shallow_clone(),
                        var_ptr: pv.data_ptr() as usize,
                        master: has_master.then(|| view(&master)),
                        exp_avg: view(&exp_avg),
                        exp_avg_sq: view(&exp_avg_sq),
                        grad_view: view(&grads),
                        decay: decays(var),
                    });
                }
                groups.push(Group {
                    params: flat,
                    master,
                    has_master,
                    exp_avg,
                    exp_avg_sq,
                    grads,
                    n_decay,
                });
            }
            Ok(())
        })?;
        // Keep name order for `state_tensors` / `param_names`.
        params.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(AdamW {
            cfg,
            params,
            groups,
            steps: 0,
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// Optimizer steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Names of the optimized parameters, in order.
    pub fn param_names(&self) -> Vec<String> {
        self.params.iter().map(|p| p.name.clone()).collect()
    }

    /// True when every variable still lives in its flat buffer.
    fn vars_flat(&self) -> bool {
        self.params.iter().all(|p| p.var.data_ptr() as usize == p.var_ptr)
    }

    /// True when every gradient is defined and lives in its flat buffer.
    fn grads_flat(&self) -> bool {
        self.params
            .iter()
            .all(|p| same_storage(&p.var.grad(), &p.grad_view))
    }

    /// Clears the gradients. Gradients autograd allocated on its own are re-pointed at the
    /// flat gradient buffer first, so later backward passes accumulate straight into it.
    pub fn zero_grad(&mut self) {
        tch::no_grad(|| {
            for p in &mut self.params {
                let mut g = p.var.grad();
                let compatible = g.defined()
                    && g.kind() == p.grad_view.kind()
                    && g.device() == p.grad_view.device()
                    && g.size() == p.grad_view.size();
                if compatible && !same_storage(&g, &p.grad_view) {
                    g.set_data(&p.grad_view);
                }
            }
            for g in &mut self.groups {
                let _ = g.grads.zero_();
            }
        });
    }

    /// Squared global gradient norm as a 0-dim f64 tensor on the first group's device (no sync).
    fn grad_norm_sq(&self, flat: bool) -> Option<Tensor> {
        tch::no_grad(|| {
            let mut sq: Option<Tensor> = None;
            let mut add = |s: Tensor| {
                let s = s.to_kind(Kind::Double).to_device(self.groups[0].grads.device());
                sq = Some(match sq.take() {
                    None => s,
                    Some(acc) => acc + s,
                });
            };
            if flat {
                for g in &self.groups {
                    let k = master_kind(g.grads.kind());
                    let n = g.grads.norm_scalaropt_dtype(2.0, k);
                    add(&n * &n);
                }
            } else {
                for p in &self.params {
                    let g = p.var.grad();
                    if !g.defined() {
                        continue;
                    }
                    let k = master_kind(g.kind());
                    add(g.to_kind(k).square().sum(k));
                }
            }
            sq
        })
    }

    /// Global L2 norm of the current gradients (computed in fp32/f64).
    pub fn grad_norm(&self) -> f64 {
        self.grad_norm_sq(self.grads_flat())
            .map_or(0.0, |s| s.double_value(&[]).sqrt())
    }

    /// One AdamW step with learning rate `lr`, clipping the global gradient norm to
    /// `max_grad_norm` first. A non-finite gradient norm leaves the parameters untouched and
    /// returns [`LearnerError::NonFinite`]. One host sync (the gradient norm).
    pub fn step(&mut self, lr: f64, max_grad_norm: Option<f64>) -> Result<OptStep> {
        self.step_impl(lr, max_grad_norm, true)
    }

    fn step_impl(&mut self, lr: f64, max_grad_norm: Option<f64>, allow_flat: bool) -> Result<OptStep> {
        let mut flat = allow_flat && self.vars_flat();
        if flat && !self.grads_flat() {
            // First step: autograd allocated the gradients; move them into the flat buffer
            // (and alias them there for the following steps). A missing gradient means the
            // parameter is skipped this step, which only the per-tensor path does.
            let ok = |p: &Param| {
                let g = p.var.grad();
                g.defined() && g.kind() == p.grad_view.kind() && g.size() == p.grad_view.size()
            };
            if self.params.iter().all(ok) {
                tch::no_grad(|| {
                    for p in &mut self.params {
                        let mut g = p.var.grad();
                        if !same_storage(&g, &p.grad_view) {
                            p.grad_view.copy_(&g);
                            g.set_data(&p.grad_view);
                        }
                    }
                });
            } else {
                flat = false;
            }
        }
        let grad_norm = self
            .grad_norm_sq(flat)
            .map_or(0.0, |s| s.double_value(&[]).sqrt());
        if !grad_norm.is_finite() {
            return Err(LearnerError::NonFinite {
                what: "gradient norm",
                value: grad_norm,
                step: self.steps,
            });
        }
        let clip_coef = match max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        self.steps += 1;
        if flat {
            self.update_flat(lr, clip_coef)?;
        } else {
            self.update_per_tensor(lr, clip_coef);
        }
        Ok(OptStep {
            grad_norm,
            clip_coef,
            lr,
        })
    }

    fn bias_corrections(&self) -> (f64, f64) {
        let t = self.steps as i32;
        (1.0 - self.cfg.beta1.powi(t), 1.0 - self.cfg.beta2.powi(t))
    }

    /// The step on the flat buffers: m ← lerp(m, c·g, 1-β1); v ← lerp(v, (c·g)², 1-β2);
    /// θ ← θ(1 - lr·wd) - lr/bc1 · m / (√v/√bc2 + ε), with θ the fp32 master, then copied
    /// into the parameters.
    fn update_flat(&mut self, lr: f64, clip_coef: f64) -> Result<()> {
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let (bc1, bc2) = self.bias_corrections();
        let (eps, wd) = (self.cfg.eps, self.cfg.weight_decay);
        tch::no_grad(|| -> Result<()> {
            for g in &mut self.groups {
                let mk = g.master.kind();
                let dev = g.master.device();
                // c·g in the master dtype, one kernel (a [1]-shaped factor promotes bf16 to fp32).
                let mut x = if g.grads.kind() == mk && clip_coef == 1.0 {
                    g.grads.copy()
                } else {
                    g.grads.f_mul(&Tensor::f_full([1], clip_coef, (mk, dev))?)?
                };
                let _ = g.exp_avg.f_lerp_(&x, 1.0 - b1)?;
                let _ = x.f_square_()?;
                let _ = g.exp_avg_sq.f_lerp_(&x, 1.0 - b2)?;
                if lr == 0.0 {
                    continue;
                }
                // x ← (√v + ε√bc2) · (-bc1 / (lr √bc2)), so that θ + m / x is the Adam update.
                let _ = g.exp_avg_sq.f_sqrt_out(&x)?;
                let _ = x.f_add_scalar_(eps * bc2.sqrt())?;
                let _ = x.f_mul_scalar_(-bc1 / (lr * bc2.sqrt()))?;
                if wd > 0.0 && g.n_decay > 0 {
                    let _ = g.master.narrow(0, 0, g.n_decay).f_mul_scalar_(1.0 - lr * wd)?;
                }
                let _ = g.master.f_addcdiv_(&g.exp_avg, &x)?;
                if g.has_master {
                    g.params.f_copy_(&g.master)?;
                }
            }
            Ok(())
        })
    }

    /// The same update tensor by tensor (parameters without a gradient are skipped).
    fn update_per_tensor(&mut self, lr: f64, clip_coef: f64) {
        let (b1, b2) = (self.cfg.beta1, self.cfg.beta2);
        let (bc1, bc2) = self.bias_corrections();
        let (eps, wd) = (self.cfg.eps, self.cfg.weight_decay);
        tch::no_grad(|| {
            for p in &mut self.params {
                let g = p.var.grad();
                if !g.defined() {
                    continue;
                }
                let mut target = match &p.master {
                    Some(m) => m.shallow_clone(),
                    None => p.var.shallow_clone(),
                };
                let mut g = g.to_kind(target.kind());
                if clip_coef != 1.0 {
                    g = g * clip_coef;
                }
                let _ = p.exp_avg.lerp_(&g, 1.0 - b1);
                let _ = p.exp_avg_sq.lerp_(&g.square(), 1.0 - b2);
                if lr == 0.0 {
                    continue;
                }
                if p.decay && wd > 0.0 {
                    let _ = target.g_mul_scalar_(1.0 - lr * wd);
                }
                let denom = (p.exp_avg_sq.sqrt() + eps * bc2.sqrt()) * (-bc1 / (lr * bc2.sqrt()));
                let _ = target.addcdiv_(&p.exp_avg, &denom);
                if p.master.is_some() {
                    p.var.copy_(&target);
                }
            }
        });
    }

    /// Optimizer state as named tensors: `exp_avg.<param>`, `exp_avg_sq.<param>` and, for
    /// reduced-precision parameters, `master.<param>` (views of the flat buffers).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(self.params.len() * 2);
        for p in &self.params {
            out.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", p.name),
                p.exp_avg_sq.shallow_clone(),
            ));
            if let Some(m) = &p.master {
                out.push((format!("master.{}", p.name), m.shallow_clone()));
            }
        }
        out
    }

    /// Mutable view used by checkpoint loading: (name, destination) pairs matching
    /// [`AdamW::state_tensors`].
    pub(crate) fn state_slots(&mut self) -> Vec<(String, Tensor)> {
        self.state_tensors()
    }

    /// Sets the number of steps taken (bias correction), on resume.
    pub(crate) fn set_steps(&mut self, steps: u64) {
        self.steps = steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_shape() {
        let s = LrSchedule {
            peak_lr: 1.0,
            min_lr: 0.1,
            warmup_steps: 4,
            total_steps: 14,
        };
        assert!((s.lr_at(0) - 0.25).abs() < 1e-12);
        assert!((s.lr_at(3) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(4) - 1.0).abs() < 1e-12);
        assert!((s.lr_at(9) - 0.55).abs() < 1e-12);
        assert!((s.lr_at(14) - 0.1).abs() < 1e-12);
        assert!((s.lr_at(100) - 0.1).abs() < 1e-12);
        for i in 4..14 {
            assert!(s.lr_at(i + 1) <= s.lr_at(i));
        }
    }

    #[test]
    fn adamw_matches_closed_form_first_step() {
        // First Adam step moves each weight by -lr * sign(g) (bias-corrected m/sqrt(v)).
        let vs = VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[3], tch::nn::Init::Const(1.0));
        let mut opt = AdamW::new(
            &vs,
            AdamWConfig {
                eps: 1e-12,
                ..Default::default()
            },
        )
        .unwrap();
        let loss = (&w * Tensor::from_slice(&[2.0f32, -3.0, 0.5])).sum(Kind::Float);
        loss.backward();
        let st = opt.step(0.1, None).unwrap();
        assert!((st.grad_norm - (4.0f64 + 9.0 + 0.25).sqrt()).abs() < 1e-5);
        let got: Vec<f32> = Vec::try_from(&w.detach()).unwrap();
        let want = [0.9f32, 1.1, 0.9];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{got:?}");
        }
    }

    #[test]
    fn clipping_scales_gradients() {
        let vs = VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[2], tch::nn::Init::Const(0.0));
        let mut opt = AdamW::new(&vs, AdamWConfig::default()).unwrap();
        (&w * Tensor::from_slice(&[30.0f32, 40.0]))
            .sum(Kind::Float)
            .backward();
        let st = opt.step(0.0, Some(1.0)).unwrap();
        assert!((st.grad_norm - 50.0).abs() < 1e-4);
        assert!((st.clip_coef - 1.0 / 50.0).abs() < 1e-6);
    }

    #[test]
    fn flat_step_matches_per_tensor_step() {
        for kind in [Kind::Float, Kind::BFloat16] {
            let make = || {
                tch::manual_seed(3);
                let mut vs = VarStore::new(Device::Cpu);
                let init = tch::nn::Init::Randn { mean: 0.0, stdev: 1.0 };
                let _ = vs.root().var("a", &[5, 3], init);
                let _ = vs.root().var("b", &[7], init);
                let _ = vs.root().var("c", &[2, 2, 2], init);
                if kind != Kind::Float {
                    vs.set_kind(kind);
                }
                vs
            };
            let cfg = AdamWConfig { weight_decay: 0.1, ..Default::default() };
            let (vs1, vs2) = (make(), make());
            let mut o1 = AdamW::new(&vs1, cfg.clone()).unwrap();
            let mut o2 = AdamW::new(&vs2, cfg).unwrap();
            for step in 0..5 {
                for (vs, o, flat) in [(&vs1, &mut o1, true), (&vs2, &mut o2, false)] {
                    o.zero_grad();
                    let mut loss = Tensor::zeros([], (Kind::Float, Device::Cpu));
                    let mut vars: Vec<_> = vs.variables().into_iter().collect();
                    vars.sort_by(|a, b| a.0.cmp(&b.0));
                    for (i, (_, v)) in vars.iter().enumerate() {
                        let w = Tensor::arange(v.numel() as i64, (Kind::Float, Device::Cpu))
                            .view(v.size().as_slice())
                            * (0.1 * (i + step + 1) as f64);
                        loss = loss + (v.to_kind(Kind::Float).square() * w).sum(Kind::Float);
                    }
                    loss.backward();
                    let st = o.step_impl(1e-2, Some(2.0), flat).unwrap();
                    assert!(st.clip_coef < 1.0);
                }
                assert!(o1.grads_flat());
                for ((n1, t1), (n2, t2)) in o1.state_tensors().iter().zip(o2.state_tensors()) {
                    assert_eq!(n1, &n2);
                    let d = (t1 - &t2).abs().max().double_value(&[]);
                    assert!(d < 1e-6, "{kind:?} step {step} {n1}: {d}");
                }
                let (p1, p2) = (vs1.variables(), vs2.variables());
                for (n, t) in &p1 {
                    let d = (t.to_kind(Kind::Float) - p2[n].to_kind(Kind::Float)).abs().max().double_value(&[]);
                    let tol = if kind == Kind::Float { 1e-6 } else { 1e-2 };
                    assert!(d <= tol, "{kind:?} step {step} {n}: {d}");
                }
            }
        }
    }

    #[test]
    fn bf16_params_get_fp32_master() {
        let mut vs = VarStore::new(tch::Device::Cpu);
        let w = vs.root().var("w", &[4], tch::nn::Init::Const(1.0));
        vs.bfloat16();
        let w = vs.variables().remove("w").unwrap_or(w);
        let mut opt = AdamW::new(&vs, AdamWConfig::default()).unwrap();
        assert!(opt
            .state_tensors()
            .iter()
            .any(|(n, t)| n == "master.w" && t.kind() == Kind::Float));
        // 1e-4 steps are below bf16 resolution at 1.0, but accumulate in the master.
        for _ in 0..100 {
            opt.zero_grad();
            w.sum(Kind::Float).backward();
            opt.step(1e-4, None).unwrap();
        }
        let v: Vec<f32> = Vec::try_from(&w.to_kind(Kind::Float).detach()).unwrap();
        assert!((v[0] - 0.99).abs() < 2e-3, "{v:?}");
    }
}
