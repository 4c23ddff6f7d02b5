//! Integration tests on the real SmolLM2-135M-Instruct Q4_1 GGUF (located like the LLM
//! client's test: `EIGENBOX_LLAMA_MODEL`, else `$EIGENBOX_CACHE/llama-server.env`, else the
//! default cache path). Without the file each test prints why and returns.
//!
//! The HF parity test runs `tests/hf_reference.py` with `EIGENBOX_TORCH_PYTHON` (default
//! `~/.cache/eigenbox/torch-venv/bin/python`); without Python + torch + transformers + gguf + accelerate
//! it prints why and returns.

use eigenbox_model::{
    encode_dialogue, encode_prompt, generate, load_gguf, parse_tool_calls, render_prompt, CausalLm,
    ChatMessage, ChatTemplate, FinishReason, GgufFile, ModelError, SamplingParams, TokenRole,
    Tokenizer, ToolCall,
};
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use tch::{Device, Kind, Tensor};

fn cache_dir() -> PathBuf {
    std::env::var_os("EIGENBOX_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/eigenbox")))
        .unwrap_or_else(|| PathBuf::from(".cache/eigenbox"))
}

fn model_path() -> Option<PathBuf> {
    let cache = cache_dir();
    let env_file = cache.join("llama-server.env");
    let vars: HashMap<String, String> = std::fs::read_to_string(&env_file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let p = std::env::var("EIGENBOX_LLAMA_MODEL")
        .ok()
        .or_else(|| vars.get("EIGENBOX_LLAMA_MODEL").cloned())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache.join("models/smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"));
    if p.is_file() {
        Some(p)
    } else {
        eprintln!(
            "SKIP: SmolLM2 GGUF not found at {} (run scripts/install-llama-server.sh)",
            p.display()
        );
        None
    }
}

struct Loaded {
    model: eigenbox_model::Transformer,
    tok: Tokenizer,
    path: PathBuf,
    _vs: tch::nn::VarStore,
}

fn load() -> Option<Loaded> {
    let path = model_path()?;
    let (vs, model, gguf) = load_gguf(&path, Device::Cpu, Kind::Float).expect("load GGUF");
    let tok = Tokenizer::from_gguf(&gguf).expect("GGUF tokenizer");
    Some(Loaded {
        model,
        tok,
        path,
        _vs: vs,
    })
}

#[test]
fn config_and_tokenizer_from_gguf() {
    let Some(path) = model_path() else { return };
    let g = GgufFile::open(&path).unwrap();
    let c = g.model_config().unwrap();
    assert_eq!(
        (
            c.hidden_size,
            c.num_layers,
            c.num_heads,
            c.num_kv_heads,
            c.head_dim
        ),
        (576, 30, 9, 3, 64)
    );
    assert_eq!(
        (c.intermediate_size, c.vocab_size, c.max_position_embeddings),
        (1536, 49152, 8192)
    );
    assert_eq!(c.rope_theta, 100000.0);
    assert!((c.rms_norm_eps - 1e-5).abs() < 1e-9);
    assert!(c.tie_word_embeddings);
    assert_eq!(
        (c.bos_token_id, c.eos_token_ids.clone()),
        (Some(1), vec![2])
    );
    assert_eq!(c.num_parameters(), 134_515_008);

    let tok = Tokenizer::from_gguf(&g).unwrap();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.token_id("<|im_end|>"), Some(2));
    assert!(!tok.add_bos);
    // Ids from HF transformers' tokenizer for this GGUF (`hf_reference.py tokenize`).
    let text = "Hello, world! 12345 <|im_start|>user\nhéllo  there";
    let ids = tok.encode(text).unwrap();
    assert_eq!(
        ids,
        vec![
            19556, 28, 905, 17, 216, 33, 34, 35, 36, 37, 216, 1, 4093, 198, 88, 2756, 31394, 216,
            665
        ]
    );
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    for s in [
        "",
        " leading space",
        "tabs\tand\nnewlines\n\n",
        "emoji 🦀 and ünïcödé",
        "x = f(1, 2) + 3.14159;",
    ] {
        assert_eq!(tok.decode(&tok.encode(s).unwrap(), false).unwrap(), s);
    }
    assert_eq!(tok.decode(&[1, 4093, 2], true).unwrap(), "user");
}

#[test]
fn dialogue_roles_and_generation_prompt() {
    let Some(path) = model_path() else { return };
    let tok = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let tools = vec![
        json!({"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
    ];
    let msgs = vec![
        ChatMessage::system("You help with weather."),
        ChatMessage::user("Weather in Paris?"),
        ChatMessage::assistant_tool_calls(
            None,
            vec![ToolCall::new(
                "c1",
                "get_weather",
                &json!({"city": "Paris"}),
            )],
        ),
        ChatMessage::tool("c1", "{\"temp_c\": 21}"),
        ChatMessage::assistant("It is 21°C in Paris."),
    ];
    let t = ChatTemplate::smollm2();
    let enc = encode_dialogue(&tok, &t, &msgs, &tools).unwrap();
    let text = render_prompt(&t, &msgs, &tools, false).unwrap();
    assert_eq!(
        enc.ids,
        tok.encode(&text).unwrap(),
        "ids are those of the whole rendered text"
    );
    assert_eq!(enc.ids.len(), enc.roles.len());
    let of = |role: TokenRole| {
        let ids: Vec<i64> = enc
            .ids
            .iter()
            .zip(&enc.roles)
            .filter(|(_, r)| **r == role)
            .map(|(i, _)| *i)
            .collect();
        tok.decode(&ids, false).unwrap()
    };
    assert_eq!(of(TokenRole::System), "You help with weather.<|im_end|>");
    assert_eq!(of(TokenRole::User), "Weather in Paris?<|im_end|>");
    assert_eq!(
        of(TokenRole::Assistant),
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>It is 21°C in Paris.<|im_end|>"
    );
    assert_eq!(of(TokenRole::Tool), "{\"temp_c\": 21}");
    // Every <|im_end|> closing an assistant turn is an Assistant token.
    let ends: Vec<TokenRole> = enc
        .ids
        .iter()
        .zip(&enc.roles)
        .filter(|(i, _)| **i == 2)
        .map(|(_, r)| *r)
        .collect();
    assert_eq!(
        ends,
        vec![
            TokenRole::System,
            TokenRole::User,
            TokenRole::Assistant,
            TokenRole::Template,
            TokenRole::Assistant
        ]
    );
    // Generation prompt = the dialogue so far + "<|im_start|>assistant\n".
    let p = encode_prompt(&tok, &t, &msgs[..2], &tools).unwrap();
    let d = encode_dialogue(&tok, &t, &msgs[..2], &tools).unwrap();
    assert_eq!(&p[..d.ids.len()], &d.ids[..]);
    assert_eq!(
        tok.decode(&p[d.ids.len()..], false).unwrap(),
        "<|im_start|>assistant\n"
    );
    // The rendered tool call parses back.
    let (content, calls) = parse_tool_calls(&of(TokenRole::Assistant).replace("<|im_end|>", "\n"));
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].arguments_json().unwrap(), json!({"city": "Paris"}));
    assert!(content.contains("21°C"));
}

#[test]
fn greedy_chat_generation_is_sane_and_consistent() {
    let Some(l) = load() else { return };
    let t = ChatTemplate::smollm2();
    let p1 = encode_prompt(
        &l.tok,
        &t,
        &[ChatMessage::user("What is the capital of France?")],
        &[],
    )
    .unwrap();
    let p2 = encode_prompt(&l.tok, &t, &[ChatMessage::user("Say hello.")], &[]).unwrap();
    let params = SamplingParams {
        temperature: 0.0,
        top_p: 1.0,
        max_new_tokens: 24,
        stop_token_ids: l.tok.eos_token_ids.clone(),
        stop_sequences: vec![],
        seed: 0,
    };
    let both = generate(&l.model, &[p1.clone(), p2.clone()], &params).unwrap();
    let text = l.tok.decode(&both[0].tokens, true).unwrap();
    println!("reply: {text:?} ({:?})", both[0].finish);
    assert!(text.contains("Paris"), "{text}");
    // Batched = one by one, and cached = uncached argmax.
    let solo = generate(&l.model, std::slice::from_ref(&p2), &params).unwrap();
    assert_eq!(both[1].tokens, solo[0].tokens);
    let mut seq = p1.clone();
    tch::no_grad(|| {
        for (i, &tok) in both[0].tokens.iter().enumerate().take(8) {
            let logits = l.model.forward(&Tensor::from_slice(&seq).view([1, -1]));
            let last = logits.select(1, seq.len() as i64 - 1);
            assert_eq!(last.argmax(-1, false).int64_value(&[0]), tok, "step {i}");
            let lp = last.log_softmax(-1, Kind::Float).double_value(&[0, tok]);
            assert!((lp - both[0].logprobs[i] as f64).abs() < 1e-3);
            seq.push(tok);
        }
    });
    if both[0].finish == FinishReason::Stop {
        assert_eq!(both[0].tokens.last(), Some(&2));
    }
}

#[test]
fn malformed_gguf_is_a_typed_error() {
    let Some(path) = model_path() else { return };
    let bytes = std::fs::read(&path).unwrap();
    let src = path.display().to_string();
    // Truncated at many points (header, metadata, tensor infos, data): never a panic.
    for cut in [
        0usize,
        3,
        4,
        8,
        20,
        24,
        100,
        1000,
        100_000,
        1_500_000,
        bytes.len() / 2,
        bytes.len() - 1,
    ] {
        let r = GgufFile::parse(bytes[..cut].to_vec(), &src);
        match r {
            Err(ModelError::Gguf { msg, .. }) => assert!(!msg.is_empty()),
            other => panic!("cut {cut}: expected a GGUF error, got {other:?}"),
        }
    }
    let mut bad = bytes[..64].to_vec();
    bad[0] = b'X';
    assert!(GgufFile::parse(bad, &src)
        .unwrap_err()
        .to_string()
        .contains("magic"));
    let mut v1 = bytes[..64].to_vec();
    v1[4] = 1;
    assert!(GgufFile::parse(v1, &src)
        .unwrap_err()
        .to_string()
        .contains("version 1"));
    // Corrupt a length field deep in the metadata: still an error, not an abort.
    let mut big = bytes[..200_000].to_vec();
    big[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(GgufFile::parse(big, &src).is_err());
}

fn torch_python() -> PathBuf {
    std::env::var_os("EIGENBOX_TORCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("torch-venv/bin/python"))
}

/// The reference Python, if it can import what `hf_reference.py` needs (else prints why).
fn reference_python() -> Option<PathBuf> {
    let py = torch_python();
    let probe = Command::new(&py)
        .args(["-c", "import torch, transformers, gguf, accelerate"])
        .output();
    match probe {
        Ok(o) if o.status.success() => Some(py),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            eprintln!(
                "SKIP: {} cannot import torch, transformers, gguf and accelerate: {}",
                py.display(),
                err.lines().last().unwrap_or("")
            );
            None
        }
        Err(e) => {
            eprintln!(
                "SKIP: cannot run {} ({e}); set EIGENBOX_TORCH_PYTHON",
                py.display()
            );
            None
        }
    }
}

#[test]
fn tokenizer_and_template_match_hf_transformers() {
    let Some(path) = model_path() else { return };
    let Some(py) = reference_python() else { return };
    let tok = Tokenizer::from_gguf(&GgufFile::open(&path).unwrap()).unwrap();
    let strings = [
        "Hello, world! 12345",
        "  multiple   spaces\n\n\ttabs  ",
        "I'm can't we'll they've DON'T",
        "unicode: naïve café 日本語 🦀🚀",
        "code: fn main() { let x = 3.14159e-10; }",
        "<|im_start|>system\nYou are<|im_end|>\n",
        "1234567890 2025-11-26",
        "\u{a0}nbsp and \r\n line ends",
        "   ",
    ];
    let dialogues = vec![
        vec![
            ChatMessage::user("Hi there"),
            ChatMessage::assistant("Hello!"),
            ChatMessage::user("Bye"),
        ],
        vec![
            ChatMessage::system("Sys."),
            ChatMessage::user("Hi"),
            ChatMessage::assistant("Yo"),
            ChatMessage::user("Again"),
        ],
    ];
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.json");
    let out = dir.path().join("out.json");
    std::fs::write(
        &inp,
        json!({"strings": strings, "dialogues": dialogues}).to_string(),
    )
    .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hf_reference.py");
    let o = Command::new(&py)
        .arg(&script)
        .arg("tokcheck")
        .arg(&path)
        .arg(&inp)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "hf_reference.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // HF's tokenizer.json (converted from the GGUF by transformers) loads through from_file too.
    let hf_tok = Tokenizer::from_file(dir.path().join("tokenizer.json")).unwrap();
    for (i, s) in strings.iter().enumerate() {
        let want: Vec<i64> = serde_json::from_value(res["ids"][i].clone()).unwrap();
        assert_eq!(tok.encode(s).unwrap(), want, "GGUF tokenizer on {s:?}");
        assert_eq!(hf_tok.encode(s).unwrap(), want, "tokenizer.json on {s:?}");
    }
    for (i, d) in dialogues.iter().enumerate() {
        let want = res["chat"][i].as_str().unwrap();
        assert_eq!(
            render_prompt(&ChatTemplate::smollm2(), d, &[], true).unwrap(),
            want,
            "dialogue {i}"
        );
    }
}

#[test]
fn logits_match_hf_transformers() {
    let Some(l) = load() else { return };
    let Some(py) = reference_python() else { return };
    let t = ChatTemplate::smollm2();
    let ids = encode_prompt(
        &l.tok,
        &t,
        &[ChatMessage::user("Write one sentence about the sea.")],
        &[],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("logits.f32");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hf_reference.py");
    let ids_arg = ids
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let o = Command::new(&py)
        .arg(&script)
        .arg("logits")
        .arg(&l.path)
        .arg(&ids_arg)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "hf_reference.py failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let raw = std::fs::read(&out).unwrap();
    let want: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let v = l.model.vocab_size();
    assert_eq!(want.len() as i64, ids.len() as i64 * v);
    let want = Tensor::from_slice(&want).view([ids.len() as i64, v]);
    let got =
        tch::no_grad(|| l.model.forward(&Tensor::from_slice(&ids).view([1, -1]))).squeeze_dim(0);
    let diff = (&got - &want).abs();
    let max = diff.max().double_value(&[]);
    let mean = diff.mean(Kind::Float).double_value(&[]);
    let scale = want.abs().max().double_value(&[]);
    println!("parity vs HF transformers: {} positions x {v} logits, max |diff| = {max:.3e}, mean = {mean:.3e}, max |logit| = {scale:.2}", ids.len());
    assert!(max <= 1e-3, "max abs logit diff {max}");
    assert!(got.argmax(-1, false).equal(&want.argmax(-1, false)));
}
