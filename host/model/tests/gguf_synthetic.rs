//! GGUF loading for every architecture from synthetic files written the way llama.cpp's
//! converter writes them (HF → llama.cpp names, q/k rows permuted for llama, F32/F16 data).

use eigenbox_model::{
    load_gguf, Arch, CausalLm, GgufFile, ModelConfig, ModelError, RopeScaling, Transformer,
};
use half::f16;
use tch::{nn::VarStore, Device, Kind, Tensor};

enum V {
    U32(u32),
    F32(f32),
    Str(String),
    Bool(bool),
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

/// Writes a GGUF v3 file: metadata + tensors (name, torch shape, ggml type 0 = F32 / 1 = F16, data).
fn write_gguf(meta: &[(&str, V)], tensors: &[(String, Vec<i64>, u32, Vec<f32>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((meta.len() as u64).to_le_bytes());
    for (k, v) in meta {
        put_str(&mut b, k);
        match v {
            V::U32(x) => {
                b.extend(4u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            V::F32(x) => {
                b.extend(6u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            V::Bool(x) => {
                b.extend(7u32.to_le_bytes());
                b.push(*x as u8);
            }
            V::Str(s) => {
                b.extend(8u32.to_le_bytes());
                put_str(&mut b, s);
            }
        }
    }
    let mut datas = vec![];
    let mut offset = 0u64;
    for (name, shape, ty, data) in tensors {
        put_str(&mut b, name);
        b.extend((shape.len() as u32).to_le_bytes());
        for d in shape.iter().rev() {
            b.extend((*d as u64).to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(offset.to_le_bytes());
        let bytes: Vec<u8> = match ty {
            0 => data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            1 => data
                .iter()
                .flat_map(|x| f16::from_f32(*x).to_le_bytes())
                .collect(),
            _ => unreachable!(),
        };
        let padded = (bytes.len() as u64).div_ceil(32) * 32;
        offset += padded;
        datas.push((bytes, padded));
    }
    while !b.len().is_multiple_of(32) {
        b.push(0);
    }
    for (bytes, padded) in datas {
        let n = bytes.len();
        b.extend(bytes);
        b.extend(std::iter::repeat_n(0u8, padded as usize - n));
    }
    b
}

fn gguf_name(hf: &str) -> String {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    for (h, g) in fixed {
        if hf == h {
            return g.to_string();
        }
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (i, rest) = rest.split_once('.').unwrap();
    let (part, suffix) = rest.rsplit_once('.').unwrap();
    let g = match part {
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        p => panic!("{p}"),
    };
    format!("blk.{i}.{g}.{suffix}")
}

/// llama.cpp's `permute` for the llama architecture.
fn permute(w: &Tensor, n_head: i64) -> Tensor {
    let shape = w.size();
    let mut s = vec![n_head, 2, shape[0] / n_head / 2];
    s.extend_from_slice(&shape[1..]);
    w.reshape(&s[..]).transpose(1, 2).reshape(&shape[..])
}

fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).contiguous().view([-1]);
    let mut v = vec![0f32; t.numel()];
    t.copy_data(&mut v, t.numel());
    v
}

fn export(arch: Arch, cfg: &ModelConfig, vs: &VarStore, extra: Vec<(&str, V)>) -> Vec<u8> {
    let a = arch.name();
    let mut meta = vec![
        ("general.architecture", V::Str(a.into())),
        ("general.alignment", V::U32(32)),
    ];
    let keys = [
        ("embedding_length", cfg.hidden_size),
        ("block_count", cfg.num_layers),
        ("feed_forward_length", cfg.intermediate_size),
        ("attention.head_count", cfg.num_heads),
        ("attention.head_count_kv", cfg.num_kv_heads),
        ("attention.key_length", cfg.head_dim),
        ("context_length", cfg.max_position_embeddings),
        ("vocab_size", cfg.vocab_size),
    ];
    let owned: Vec<(String, V)> = keys
        .iter()
        .map(|(k, v)| (format!("{a}.{k}"), V::U32(*v as u32)))
        .collect();
    let owned_f = vec![
        (format!("{a}.rope.freq_base"), V::F32(cfg.rope_theta as f32)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            V::F32(cfg.rms_norm_eps as f32),
        ),
    ];
    let mut all: Vec<(String, V)> = owned.into_iter().chain(owned_f).collect();
    for (k, v) in extra {
        all.push((k.to_string(), v));
    }
    meta.extend(all.iter().map(|(k, v)| {
        (
            k.as_str(),
            match v {
                V::U32(x) => V::U32(*x),
                V::F32(x) => V::F32(*x),
                V::Str(s) => V::Str(s.clone()),
                V::Bool(b) => V::Bool(*b),
            },
        )
    }));
    let mut names: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    names.sort_by(|x, y| x.0.cmp(&y.0));
    let tensors: Vec<(String, Vec<i64>, u32, Vec<f32>)> = names
        .iter()
        .map(|(n, t)| {
            let mut t = t.shallow_clone();
            if arch == Arch::Llama {
                if n.contains("q_proj") {
                    t = permute(&t, cfg.num_heads);
                } else if n.contains("k_proj") {
                    t = permute(&t, cfg.num_kv_heads);
                }
            }
            // 2-D weights as F16 (values were rounded to f16 beforehand), vectors as F32.
            let ty = if t.dim() == 2 { 1 } else { 0 };
            (gguf_name(n), t.size(), ty, to_vec(&t))
        })
        .collect();
    write_gguf(&meta, &tensors)
}

#[test]
fn gguf_round_trip_all_archs() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        tch::manual_seed(21);
        let mut cfg = ModelConfig::tiny(arch, 64);
        cfg.rope_theta = 50000.0;
        let vs = VarStore::new(Device::Cpu);
        let m = Transformer::new(&vs.root(), &cfg).unwrap();
        // Random norms/biases, and weights exactly representable in f16.
        tch::no_grad(|| {
            for (_, mut v) in vs.variables() {
                if v.dim() == 1 {
                    v.copy_(&(Tensor::randn(v.size(), (Kind::Float, Device::Cpu)) * 0.1 + 1.0));
                }
                let r = v.to_kind(Kind::Half).to_kind(Kind::Float);
                v.copy_(&r);
            }
        });
        let bytes = export(arch, &cfg, &vs, vec![]);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.gguf");
        std::fs::write(&p, &bytes).unwrap();
        let (_vs2, m2, g) = load_gguf(&p, Device::Cpu, Kind::Float).unwrap();
        let c2 = m2.config();
        assert_eq!(c2.arch, arch);
        assert_eq!(c2.tie_word_embeddings, cfg.tie_word_embeddings, "{arch:?}");
        assert_eq!(c2.attention_bias, cfg.attention_bias, "{arch:?}");
        assert_eq!(c2.qk_norm, cfg.qk_norm);
        assert_eq!(
            (c2.num_heads, c2.num_kv_heads, c2.head_dim, c2.rope_theta),
            (4, 2, 16, 50000.0)
        );
        assert_eq!(g.version, 3);
        let ids = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6]).view([2, 4]);
        let a = tch::no_grad(|| m.forward(&ids));
        let b = tch::no_grad(|| m2.forward(&ids));
        let d = (a - b).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{arch:?}: {d}");

        // bf16 load works too.
        let (_vs3, m3, _) = load_gguf(&p, Device::Cpu, Kind::BFloat16).unwrap();
        assert_eq!(m3.kind(), Kind::BFloat16);

        // A truncated copy fails with a GGUF error naming a tensor.
        let cut = &bytes[..bytes.len() - 100];
        let e = GgufFile::parse(cut.to_vec(), "cut.gguf").unwrap_err();
        assert!(
            matches!(&e, ModelError::Gguf { msg, .. } if msg.contains("past the end")),
            "{e}"
        );
    }
}

#[test]
fn gguf_rope_freqs_and_missing_metadata() {
    let cfg = ModelConfig::tiny(Arch::Llama, 64);
    let vs = VarStore::new(Device::Cpu);
    let _m = Transformer::new(&vs.root(), &cfg).unwrap();
    let mut bytes = export(
        Arch::Llama,
        &cfg,
        &vs,
        vec![
            ("tokenizer.ggml.eos_token_id", V::U32(7)),
            ("tokenizer.ggml.add_bos_token", V::Bool(true)),
        ],
    );
    let g = GgufFile::parse(bytes.clone(), "x").unwrap();
    assert_eq!(g.model_config().unwrap().eos_token_ids, vec![7]);
    // Corrupt the architecture name: unsupported arch error.
    let pos = bytes.windows(5).position(|w| w == b"llama").unwrap();
    bytes[pos..pos + 5].copy_from_slice(b"gpt2x");
    let g = GgufFile::parse(bytes, "x").unwrap();
    assert!(matches!(g.model_config(), Err(ModelError::UnsupportedArch(a)) if a == "gpt2x"));
    // rope_freqs.weight becomes per-frequency divisors.
    let ff: Vec<f32> = (0..8).map(|i| 1.0 + i as f32).collect();
    let bytes = write_gguf(
        &[
            ("general.architecture", V::Str("llama".into())),
            ("llama.embedding_length", V::U32(64)),
            ("llama.block_count", V::U32(1)),
            ("llama.feed_forward_length", V::U32(8)),
            ("llama.attention.head_count", V::U32(4)),
        ],
        &[
            ("rope_freqs.weight".into(), vec![8], 0, ff.clone()),
            ("token_embd.weight".into(), vec![10, 64], 0, vec![0.0; 640]),
        ],
    );
    let c = GgufFile::parse(bytes, "x").unwrap().model_config().unwrap();
    assert_eq!(
        c.rope_scaling,
        Some(RopeScaling::FreqFactors(
            ff.iter().map(|&x| x as f64).collect()
        ))
    );
    assert_eq!(c.vocab_size, 10);
    assert_eq!(c.num_kv_heads, 4);
    let inv = c.inv_freq();
    assert!((inv[1] - 1.0 / 10000f64.powf(2.0 / 16.0) / 2.0).abs() < 1e-12);
    // Missing required metadata names the key.
    let bytes = write_gguf(&[("general.architecture", V::Str("qwen3".into()))], &[]);
    let e = GgufFile::parse(bytes, "x")
        .unwrap()
        .model_config()
        .unwrap_err();
    assert!(e.to_string().contains("qwen3.embedding_length"), "{e}");
}
