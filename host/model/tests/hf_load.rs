//! HF safetensors loading (single file, sharded, errors) and HF-compatible saving.

use eigenbox_model::{
    load_hf_dir, load_safetensors, Arch, CausalLm, ModelConfig, ModelError, Transformer,
};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{nn::VarStore, Device, Kind, Tensor};

fn config_json(cfg: &ModelConfig) -> String {
    serde_json::json!({
        "model_type": cfg.arch.name(), "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads, "num_key_value_heads": cfg.num_kv_heads, "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.rms_norm_eps, "rope_theta": cfg.rope_theta, "tie_word_embeddings": cfg.tie_word_embeddings,
        "max_position_embeddings": cfg.max_position_embeddings,
    })
    .to_string()
}

/// Writes `tensors` (name → tensor) as a safetensors file in `dtype`.
fn write_st(path: &Path, tensors: &[(String, Tensor)], kind: Kind) {
    let mut bufs = vec![];
    for (name, t) in tensors {
        let t = t.to_kind(kind).contiguous();
        let n = t.numel() * kind.elt_size_in_bytes();
        let mut bytes = vec![0u8; n];
        t.copy_data_u8(&mut bytes, t.numel());
        bufs.push((
            name.clone(),
            t.size().iter().map(|&d| d as usize).collect::<Vec<_>>(),
            bytes,
        ));
    }
    let dtype = match kind {
        Kind::Float => Dtype::F32,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        _ => unreachable!(),
    };
    let views: BTreeMap<String, TensorView> = bufs
        .iter()
        .map(|(n, s, b)| (n.clone(), TensorView::new(dtype, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(&views, &None, path).unwrap();
}

fn named(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn save_then_load_single_and_sharded() {
    for arch in [Arch::Llama, Arch::Qwen2, Arch::Qwen3] {
        tch::manual_seed(9);
        let cfg = ModelConfig::tiny(arch, 50);
        let vs = VarStore::new(Device::Cpu);
        let m = Transformer::new(&vs.root(), &cfg).unwrap();
        let ids = Tensor::from_slice(&[1i64, 2, 3, 4, 5]).view([1, 5]);
        let want = tch::no_grad(|| m.forward(&ids));

        // Single file written by VarStore::save (HF names).
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config_json(&cfg)).unwrap();
        vs.save(dir.path().join("model.safetensors")).unwrap();
        let (_vs2, m2) = load_hf_dir(dir.path(), Device::Cpu, Kind::Float).unwrap();
        let got = tch::no_grad(|| m2.forward(&ids));
        assert!(got.allclose(&want, 1e-6, 1e-6, false), "{arch:?} single");

        // Sharded in bf16 with an index, plus a rotary buffer the loader must ignore.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), config_json(&cfg)).unwrap();
        let all = named(&vs);
        let (a, b) = all.split_at(all.len() / 2);
        let mut a = a
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect::<Vec<_>>();
        a.push((
            "model.layers.0.self_attn.rotary_emb.inv_freq".into(),
            Tensor::ones([8], (Kind::Float, Device::Cpu)),
        ));
        let b = b
            .iter()
            .map(|(n, t)| (n.clone(), t.shallow_clone()))
            .collect::<Vec<_>>();
        write_st(
            &dir.path().join("model-00001-of-00002.safetensors"),
            &a,
            Kind::BFloat16,
        );
        write_st(
            &dir.path().join("model-00002-of-00002.safetensors"),
            &b,
            Kind::BFloat16,
        );
        let mut map = serde_json::Map::new();
        for (n, _) in &a {
            map.insert(n.clone(), "model-00001-of-00002.safetensors".into());
        }
        for (n, _) in &b {
            map.insert(n.clone(), "model-00002-of-00002.safetensors".into());
        }
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            serde_json::json!({"metadata": {}, "weight_map": map}).to_string(),
        )
        .unwrap();
        let (_vs3, m3) = load_hf_dir(dir.path(), Device::Cpu, Kind::BFloat16).unwrap();
        assert_eq!(m3.kind(), Kind::BFloat16);
        let got = tch::no_grad(|| m3.forward(&ids)).to_kind(Kind::Float);
        let d = (got - &want).abs().max().double_value(&[]);
        assert!(d < 0.1, "{arch:?} sharded bf16: {d}");
    }
}

#[test]
fn load_errors_name_the_tensor() {
    let cfg = ModelConfig::tiny(Arch::Llama, 50);
    let vs = VarStore::new(Device::Cpu);
    let _m = Transformer::new(&vs.root(), &cfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut all = named(&vs);

    // Missing.
    let removed = all.remove(0).0;
    let p = dir.path().join("a.safetensors");
    write_st(&p, &all, Kind::Float);
    match load_safetensors(&vs, std::slice::from_ref(&p)) {
        Err(ModelError::MissingTensors { names, .. }) => assert_eq!(names, vec![removed.clone()]),
        other => panic!("{other:?}"),
    }
    // Unexpected.
    let mut extra = named(&vs);
    extra.push((
        "model.layers.9.mlp.up_proj.weight".into(),
        Tensor::zeros([2], (Kind::Float, Device::Cpu)),
    ));
    write_st(&p, &extra, Kind::Float);
    let e = load_safetensors(&vs, std::slice::from_ref(&p)).unwrap_err();
    assert!(
        matches!(e, ModelError::UnexpectedTensors { .. })
            && e.to_string().contains("model.layers.9.mlp.up_proj.weight"),
        "{e}"
    );
    // Mis-shaped.
    let mut bad = named(&vs);
    let i = bad
        .iter()
        .position(|(n, _)| n == "model.norm.weight")
        .unwrap();
    bad[i].1 = Tensor::zeros([3], (Kind::Float, Device::Cpu));
    write_st(&p, &bad, Kind::Float);
    let e = load_safetensors(&vs, std::slice::from_ref(&p)).unwrap_err();
    assert!(
        e.to_string().contains("model.norm.weight") && e.to_string().contains("[3]"),
        "{e}"
    );
    // Not safetensors / missing files.
    std::fs::write(&p, b"garbage").unwrap();
    assert!(matches!(
        load_safetensors(&vs, std::slice::from_ref(&p)),
        Err(ModelError::Safetensors { .. })
    ));
    let e = load_hf_dir(dir.path().join("nope"), Device::Cpu, Kind::Float).unwrap_err();
    assert!(e.to_string().contains("config.json"), "{e}");
}
