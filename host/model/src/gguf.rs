//! GGUF (v2/v3) reader, dequantisation and llama.cpp → HF name mapping.
//!
//! Layout: magic `GGUF`, version u32, tensor count u64, metadata count u64, metadata
//! key/values, tensor infos (name, dims innermost-first, ggml type, offset), padding to
//! `general.alignment` (default 32), tensor data. All little-endian.

use crate::{Arch, ModelConfig, ModelError, RopeScaling, Transformer};
use half::{bf16, f16};
use std::collections::BTreeMap;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<GgufValue>),
}

impl GgufValue {
    /// Integer value (any integer type, or bool).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            GgufValue::U8(x) => x as i64,
            GgufValue::I8(x) => x as i64,
            GgufValue::U16(x) => x as i64,
            GgufValue::I16(x) => x as i64,
            GgufValue::U32(x) => x as i64,
            GgufValue::I32(x) => x as i64,
            GgufValue::U64(x) => i64::try_from(x).ok()?,
            GgufValue::I64(x) => x,
            GgufValue::Bool(b) => b as i64,
            _ => return None,
        })
    }
    /// Float value (any numeric type).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            GgufValue::F32(x) => Some(x as f64),
            GgufValue::F64(x) => Some(x),
            _ => self.as_i64().map(|x| x as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            GgufValue::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            GgufValue::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        match self {
            GgufValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// ggml tensor types this crate knows by name.
pub fn ggml_type_name(t: u32) -> &'static str {
    match t {
        0 => "F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        6 => "Q5_0",
        7 => "Q5_1",
        8 => "Q8_0",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        12 => "Q4_K",
        13 => "Q5_K",
        14 => "Q6_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        30 => "BF16",
        34 => "TQ1_0",
        35 => "TQ2_0",
        39 => "MXFP4",
        _ => "unknown",
    }
}

/// (elements per block, bytes per block) for the supported types.
fn block_layout(t: u32) -> Option<(usize, usize)> {
    match t {
        0 => Some((1, 4)),
        1 | 30 => Some((1, 2)),
        2 => Some((32, 18)),
        3 => Some((32, 20)),
        8 => Some((32, 34)),
        _ => None,
    }
}

/// One tensor's header.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufTensorInfo {
    pub name: String,
    /// ggml dims, innermost (contiguous) first; the torch shape is the reverse.
    pub dims: Vec<u64>,
    pub ggml_type: u32,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl GgufTensorInfo {
    /// The row-major (torch) shape.
    pub fn shape(&self) -> Vec<i64> {
        self.dims.iter().rev().map(|&d| d as i64).collect()
    }
    pub fn numel(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file (the whole file is held in memory).
#[derive(Debug)]
pub struct GgufFile {
    pub version: u32,
    pub metadata: BTreeMap<String, GgufValue>,
    pub tensors: Vec<GgufTensorInfo>,
    pub alignment: u64,
    data_offset: usize,
    bytes: Vec<u8>,
    source: String,
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    src: &'a str,
}

const MAX_STRING: u64 = 1 << 30;
const MAX_COUNT: u64 = 1 << 28;

impl<'a> Reader<'a> {
    fn err(&self, msg: impl Into<String>) -> ModelError {
        ModelError::Gguf {
            path: self.src.to_string(),
            msg: format!("{} (at byte {})", msg.into(), self.pos),
        }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len());
        match end {
            Some(e) => {
                let s = &self.b[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => Err(self.err(format!(
                "truncated while reading {what} ({n} bytes, file is {} bytes)",
                self.b.len()
            ))),
        }
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ModelError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let n = self.u64(what)?;
        if n > MAX_STRING {
            return Err(self.err(format!("{what}: string length {n} is implausible")));
        }
        let s = self.take(n as usize, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.err(format!("{what}: string is not UTF-8")))
    }
    fn value(&mut self, ty: u32, what: &str, depth: u32) -> Result<GgufValue, ModelError> {
        Ok(match ty {
            0 => GgufValue::U8(self.arr::<1>(what)?[0]),
            1 => GgufValue::I8(self.arr::<1>(what)?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.arr(what)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.arr(what)?)),
            4 => GgufValue::U32(self.u32(what)?),
            5 => GgufValue::I32(i32::from_le_bytes(self.arr(what)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.arr(what)?)),
            7 => match self.arr::<1>(what)?[0] {
                0 => GgufValue::Bool(false),
                1 => GgufValue::Bool(true),
                b => return Err(self.err(format!("{what}: invalid bool byte {b}"))),
            },
            8 => GgufValue::String(self.string(what)?),
            9 => {
                if depth > 4 {
                    return Err(self.err(format!("{what}: arrays nested too deeply")));
                }
                let ity = self.u32(what)?;
                let n = self.u64(what)?;
                if n > MAX_COUNT || n > (self.b.len() - self.pos) as u64 {
                    return Err(self.err(format!("{what}: array length {n} exceeds the file")));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(ity, what, depth + 1)?);
                }
                GgufValue::Array(v)
            }
            10 => GgufValue::U64(self.u64(what)?),
            11 => GgufValue::I64(i64::from_le_bytes(self.arr(what)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.arr(what)?)),
            t => return Err(self.err(format!("{what}: unknown metadata value type {t}"))),
        })
    }
}

impl GgufFile {
    /// Reads and parses a GGUF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ModelError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let f = Self::parse(bytes, &path.display().to_string())?;
        tracing::info!(path = %path.display(), version = f.version, tensors = f.tensors.len(), metadata = f.metadata.len(), "read GGUF");
        Ok(f)
    }

    /// Parses GGUF bytes; `source` names them in errors.
    pub fn parse(bytes: Vec<u8>, source: &str) -> Result<Self, ModelError> {
        let mut r = Reader {
            b: &bytes,
            pos: 0,
            src: source,
        };
        let magic = r.arr::<4>("magic")?;
        if &magic != b"GGUF" {
            return Err(r.err(format!("bad magic {magic:?}, expected \"GGUF\"")));
        }
        let version = r.u32("version")?;
        if version != 2 && version != 3 {
            return Err(r.err(format!(
                "unsupported GGUF version {version} (supported: 2, 3)"
            )));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        if n_tensors > MAX_COUNT || n_kv > MAX_COUNT {
            return Err(r.err(format!(
                "implausible counts: {n_tensors} tensors, {n_kv} metadata entries"
            )));
        }
        let mut metadata = BTreeMap::new();
        for i in 0..n_kv {
            let key = r.string(&format!("metadata key #{i}"))?;
            let ty = r.u32(&format!("type of `{key}`"))?;
            let v = r.value(ty, &format!("value of `{key}`"), 0)?;
            metadata.insert(key, v);
        }
        let mut tensors = Vec::with_capacity(n_tensors.min(1 << 16) as usize);
        for i in 0..n_tensors {
            let name = r.string(&format!("name of tensor #{i}"))?;
            let nd = r.u32(&format!("rank of `{name}`"))?;
            if nd > 4 {
                return Err(r.err(format!("tensor `{name}` has rank {nd} (max 4)")));
            }
            let mut dims = Vec::with_capacity(nd as usize);
            for _ in 0..nd {
                dims.push(r.u64(&format!("dims of `{name}`"))?);
            }
            let ggml_type = r.u32(&format!("type of `{name}`"))?;
            let offset = r.u64(&format!("offset of `{name}`"))?;
            tensors.push(GgufTensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_i64() {
                Some(a) if a > 0 && (a as u64).is_power_of_two() => a as u64,
                _ => return Err(r.err(format!("general.alignment {v:?} is not a power of two"))),
            },
        };
        let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
        let f = GgufFile {
            version,
            metadata,
            tensors,
            alignment,
            data_offset: data_offset as usize,
            bytes,
            source: source.to_string(),
        };
        // Validate every tensor's extent up front so later reads cannot go out of bounds.
        for t in &f.tensors {
            f.tensor_bytes(t)?;
        }
        Ok(f)
    }

    fn err(&self, msg: impl Into<String>) -> ModelError {
        ModelError::Gguf {
            path: self.source.clone(),
            msg: msg.into(),
        }
    }

    /// Tensor data bytes (checked against the file size); errors name unsupported types.
    fn tensor_bytes(&self, t: &GgufTensorInfo) -> Result<&[u8], ModelError> {
        let (blk, bytes_per) =
            block_layout(t.ggml_type).ok_or_else(|| ModelError::UnsupportedGgmlType {
                name: t.name.clone(),
                type_id: t.ggml_type,
                type_name: ggml_type_name(t.ggml_type).to_string(),
            })?;
        let numel = t
            .dims
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| self.err(format!("tensor `{}` dims overflow", t.name)))?;
        if t.dims.first().is_some_and(|&d0| d0 % blk as u64 != 0) {
            return Err(self.err(format!(
                "tensor `{}`: row length {} is not a multiple of the block size {blk}",
                t.name, t.dims[0]
            )));
        }
        let size = (numel / blk as u64)
            .checked_mul(bytes_per as u64)
            .ok_or_else(|| self.err("size overflow"))?;
        let start = (self.data_offset as u64)
            .checked_add(t.offset)
            .ok_or_else(|| self.err("offset overflow"))?;
        let end = start
            .checked_add(size)
            .ok_or_else(|| self.err("offset overflow"))?;
        if end > self.bytes.len() as u64 {
            return Err(self.err(format!(
                "tensor `{}` ({} bytes at {start}) extends past the end of the file ({} bytes): truncated?",
                t.name,
                size,
                self.bytes.len()
            )));
        }
        Ok(&self.bytes[start as usize..end as usize])
    }

    /// Looks up a tensor header by name.
    pub fn tensor_info(&self, name: &str) -> Option<&GgufTensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Dequantises a tensor to f32, returning (torch shape, values).
    pub fn tensor_f32(&self, name: &str) -> Result<(Vec<i64>, Vec<f32>), ModelError> {
        let t = self
            .tensor_info(name)
            .ok_or_else(|| self.err(format!("no tensor `{name}`")))?;
        let data = self.tensor_bytes(t)?;
        Ok((
            t.shape(),
            dequantize(t.ggml_type, data, t.numel() as usize, &t.name)?,
        ))
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    fn req_i64(&self, key: &str) -> Result<i64, ModelError> {
        self.get(key)
            .and_then(GgufValue::as_i64)
            .ok_or_else(|| ModelError::config(key, "missing or not an integer in GGUF metadata"))
    }

    /// The architecture (`general.architecture`).
    pub fn arch(&self) -> Result<Arch, ModelError> {
        let a = self
            .get("general.architecture")
            .and_then(GgufValue::as_str)
            .ok_or_else(|| {
                ModelError::config("general.architecture", "missing in GGUF metadata")
            })?;
        Arch::parse(a)
    }

    /// Builds the model config from the metadata (`{arch}.embedding_length`, `block_count`,
    /// `attention.head_count(_kv)`, `rope.freq_base`, …) and the tensor list (tied output when
    /// `output.weight` is absent, q/k/v bias when `blk.0.attn_q.bias` exists).
    pub fn model_config(&self) -> Result<ModelConfig, ModelError> {
        let arch = self.arch()?;
        let a = arch.name();
        let k = |s: &str| format!("{a}.{s}");
        let hidden_size = self.req_i64(&k("embedding_length"))?;
        let num_heads = self.req_i64(&k("attention.head_count"))?;
        let num_kv_heads = self
            .get(&k("attention.head_count_kv"))
            .and_then(GgufValue::as_i64)
            .unwrap_or(num_heads);
        let head_dim = match self
            .get(&k("attention.key_length"))
            .and_then(GgufValue::as_i64)
        {
            Some(d) => d,
            None if num_heads > 0 => hidden_size / num_heads,
            None => {
                return Err(ModelError::config(
                    k("attention.head_count"),
                    "must be positive",
                ))
            }
        };
        let vocab_size = match self.get(&k("vocab_size")).and_then(GgufValue::as_i64) {
            Some(v) => v,
            None => match self
                .get("tokenizer.ggml.tokens")
                .and_then(GgufValue::as_array)
            {
                Some(t) => t.len() as i64,
                None => self
                    .tensor_info("token_embd.weight")
                    .map(|t| t.shape()[0])
                    .ok_or_else(|| {
                        ModelError::config(
                            k("vocab_size"),
                            "missing, and no tokenizer.ggml.tokens / token_embd.weight",
                        )
                    })?,
            },
        };
        let f = |key: &str| self.get(key).and_then(GgufValue::as_f64);
        let mut rope_scaling = match self
            .get(&k("rope.scaling.type"))
            .and_then(GgufValue::as_str)
        {
            None | Some("none") => None,
            Some("linear") => Some(RopeScaling::Linear {
                factor: f(&k("rope.scaling.factor"))
                    .ok_or_else(|| ModelError::config(k("rope.scaling.factor"), "missing"))?,
            }),
            Some(other) => {
                return Err(ModelError::config(
                    k("rope.scaling.type"),
                    format!("unsupported RoPE scaling `{other}`"),
                ))
            }
        };
        if self.tensor_info("rope_freqs.weight").is_some() {
            let (_, ff) = self.tensor_f32("rope_freqs.weight")?;
            rope_scaling = Some(RopeScaling::FreqFactors(
                ff.iter().map(|&x| x as f64).collect(),
            ));
        }
        let mut eos_token_ids = vec![];
        for key in [
            "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id",
        ] {
            if let Some(id) = self.get(key).and_then(GgufValue::as_i64) {
                if !eos_token_ids.contains(&id) {
                    eos_token_ids.push(id);
                }
            }
        }
        let cfg = ModelConfig {
            arch,
            vocab_size,
            hidden_size,
            intermediate_size: self.req_i64(&k("feed_forward_length"))?,
            num_layers: self.req_i64(&k("block_count"))?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: f(&k("attention.layer_norm_rms_epsilon")).unwrap_or(1e-6),
            rope_theta: f(&k("rope.freq_base")).unwrap_or(10000.0),
            rope_scaling,
            tie_word_embeddings: self.tensor_info("output.weight").is_none(),
            attention_bias: arch == Arch::Qwen2 || self.tensor_info("blk.0.attn_q.bias").is_some(),
            qk_norm: arch == Arch::Qwen3,
            max_position_embeddings: self
                .get(&k("context_length"))
                .and_then(GgufValue::as_i64)
                .unwrap_or(2048),
            bos_token_id: self
                .get("tokenizer.ggml.bos_token_id")
                .and_then(GgufValue::as_i64),
            eos_token_ids,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Dequantises `n` elements of ggml type `ty` from `data` (sized by the caller or checked here).
pub fn dequantize(ty: u32, data: &[u8], n: usize, name: &str) -> Result<Vec<f32>, ModelError> {
    let (blk, bpb) = block_layout(ty).ok_or_else(|| ModelError::UnsupportedGgmlType {
        name: name.to_string(),
        type_id: ty,
        type_name: ggml_type_name(ty).to_string(),
    })?;
    if !n.is_multiple_of(blk) || data.len() < n / blk * bpb {
        return Err(ModelError::Gguf {
            path: name.to_string(),
            msg: format!(
                "{} bytes cannot hold {n} elements of type {}",
                data.len(),
                ggml_type_name(ty)
            ),
        });
    }
    let mut out = Vec::with_capacity(n);
    match ty {
        0 => out.extend(
            data[..n * 4]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        1 => out.extend(
            data[..n * 2]
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        30 => out.extend(
            data[..n * 2]
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        2 => {
            // Q4_0: f16 scale d, 16 bytes of nibbles; x[j] = (lo - 8) d, x[j + 16] = (hi - 8) d.
            for b in data[..n / 32 * 18].chunks_exact(18) {
                let d = f16_at(b, 0);
                let qs = &b[2..18];
                out.extend(qs.iter().map(|&q| ((q & 0x0F) as i32 - 8) as f32 * d));
                out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
        }
        3 => {
            // Q4_1: f16 scale d, f16 min m, 16 bytes of nibbles; x = q d + m.
            for b in data[..n / 32 * 20].chunks_exact(20) {
                let d = f16_at(b, 0);
                let m = f16_at(b, 2);
                let qs = &b[4..20];
                out.extend(qs.iter().map(|&q| (q & 0x0F) as f32 * d + m));
                out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
        }
        8 => {
            // Q8_0: f16 scale d, 32 int8; x = q d.
            for b in data[..n / 32 * 34].chunks_exact(34) {
                let d = f16_at(b, 0);
                out.extend(b[2..34].iter().map(|&q| (q as i8) as f32 * d));
            }
        }
        _ => unreachable!("block_layout covers the supported types"),
    }
    Ok(out)
}

/// Maps a llama.cpp tensor name to the HF name (`None` for tensors the model does not use,
/// such as `rope_freqs.weight`, which goes into the config instead).
pub fn hf_name(gguf_name: &str) -> Option<String> {
    let fixed = match gguf_name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf_name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: u32 = layer.parse().ok()?;
    let (part, suffix) = rest.rsplit_once('.')?;
    if suffix != "weight" && suffix != "bias" {
        return None;
    }
    let hf = match part {
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "attn_q_norm" => "self_attn.q_norm",
        "attn_k_norm" => "self_attn.k_norm",
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{suffix}"))
}

/// Undoes llama.cpp's `permute` of q/k rows for the llama architecture:
/// the converter maps HF rows `[heads, 2, d/2]` to `[heads, d/2, 2]` (interleaved RoPE pairs).
fn unpermute(w: &Tensor, n_head: i64) -> Tensor {
    let shape = w.size();
    let rows = shape[0];
    let mut s = vec![n_head, rows / n_head / 2, 2];
    s.extend_from_slice(&shape[1..]);
    w.reshape(&s[..]).transpose(1, 2).reshape(&shape[..])
}

/// Copies every tensor of `gguf` into the model's variables in `vs` (dequantised, converted to
/// each variable's dtype and device). Errors list missing, unexpected or mis-shaped tensors.
pub fn load_gguf_into(vs: &VarStore, cfg: &ModelConfig, gguf: &GgufFile) -> Result<(), ModelError> {
    let vars = vs.variables();
    let mut seen = std::collections::HashSet::new();
    let mut unexpected = vec![];
    tch::no_grad(|| -> Result<(), ModelError> {
        for t in &gguf.tensors {
            let Some(name) = hf_name(&t.name) else {
                if t.name != "rope_freqs.weight" {
                    unexpected.push(t.name.clone());
                }
                continue;
            };
            let Some(var) = vars.get(&name) else {
                unexpected.push(format!("{} (→ {name})", t.name));
                continue;
            };
            let (shape, data) = gguf.tensor_f32(&t.name)?;
            if shape != var.size() {
                return Err(ModelError::ShapeMismatch {
                    source_name: gguf.source.clone(),
                    name: t.name.clone(),
                    got: shape,
                    expected: var.size(),
                });
            }
            let mut src = Tensor::from_slice(&data).reshape(&shape[..]);
            if cfg.arch == Arch::Llama {
                if t.name.ends_with("attn_q.weight") || t.name.ends_with("attn_q.bias") {
                    src = unpermute(&src, cfg.num_heads);
                } else if t.name.ends_with("attn_k.weight") || t.name.ends_with("attn_k.bias") {
                    src = unpermute(&src, cfg.num_kv_heads);
                }
            }
            let mut var = var.shallow_clone();
            var.f_copy_(&src.to_kind(var.kind()).to_device(var.device()))?;
            seen.insert(name);
        }
        Ok(())
    })?;
    if !unexpected.is_empty() {
        return Err(ModelError::UnexpectedTensors {
            source_name: gguf.source.clone(),
            names: unexpected,
        });
    }
    let mut missing: Vec<String> = vars
        .keys()
        .filter(|k| !seen.contains(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        missing.sort();
        return Err(ModelError::MissingTensors {
            source_name: gguf.source.clone(),
            names: missing,
        });
    }
    Ok(())
}

/// Loads a GGUF model onto `device` in `kind` (e.g. `Kind::Float`, `Kind::BFloat16`):
/// config from metadata, weights dequantised. Returns the var store, the model and the parsed
/// file (for [`crate::Tokenizer::from_gguf`]).
pub fn load_gguf(
    path: impl AsRef<Path>,
    device: Device,
    kind: Kind,
) -> Result<(VarStore, Transformer, GgufFile), ModelError> {
    let path = path.as_ref();
    let gguf = GgufFile::open(path)?;
    let cfg = gguf.model_config()?;
    let mut vs = VarStore::new(device);
    let model = Transformer::with_init(&vs.root(), &cfg, tch::nn::Init::Const(0.0))?;
    if kind != Kind::Float {
        vs.set_kind(kind);
    }
    load_gguf_into(&vs, &cfg, &gguf)?;
    tracing::info!(path = %path.display(), arch = cfg.arch.name(), params = cfg.num_parameters(), ?device, ?kind, "loaded GGUF model");
    Ok((vs, model, gguf))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(x: f32) -> [u8; 2] {
        f16::from_f32(x).to_le_bytes()
    }

    #[test]
    fn dequant_q4_0_block() {
        let mut b = vec![];
        b.extend(h(0.5));
        // byte j: lo nibble = j, hi nibble = 15 - j
        b.extend((0u8..16).map(|j| j | ((15 - j) << 4)));
        let x = dequantize(2, &b, 32, "t").unwrap();
        for j in 0..16 {
            assert_eq!(x[j], (j as f32 - 8.0) * 0.5);
            assert_eq!(x[j + 16], ((15 - j) as f32 - 8.0) * 0.5);
        }
    }

    #[test]
    fn dequant_q4_1_block() {
        let mut b = vec![];
        b.extend(h(0.25));
        b.extend(h(-1.0));
        b.extend((0u8..16).map(|j| (j % 16) | (((j + 3) % 16) << 4)));
        let x = dequantize(3, &b, 32, "t").unwrap();
        assert_eq!(x[0], -1.0);
        assert_eq!(x[5], 5.0 * 0.25 - 1.0);
        assert_eq!(x[16], 3.0 * 0.25 - 1.0);
        assert_eq!(x[31], (18 % 16) as f32 * 0.25 - 1.0);
    }

    #[test]
    fn dequant_q8_0_and_floats() {
        let mut b = vec![];
        b.extend(h(2.0));
        b.extend((0..32).map(|j| (j as i8 - 16) as u8));
        let x = dequantize(8, &b, 32, "t").unwrap();
        assert_eq!(x[0], -32.0);
        assert_eq!(x[31], 30.0);
        let f: Vec<u8> = [1.5f32, -2.25]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(dequantize(0, &f, 2, "t").unwrap(), vec![1.5, -2.25]);
        let f: Vec<u8> = [h(0.5), h(-3.0)].concat();
        assert_eq!(dequantize(1, &f, 2, "t").unwrap(), vec![0.5, -3.0]);
        let f: Vec<u8> = [
            bf16::from_f32(1.25).to_le_bytes(),
            bf16::from_f32(-8.0).to_le_bytes(),
        ]
        .concat();
        assert_eq!(dequantize(30, &f, 2, "t").unwrap(), vec![1.25, -8.0]);
        let e = dequantize(14, &[0; 210], 256, "blk.0.ffn_down.weight").unwrap_err();
        assert!(
            e.to_string().contains("Q6_K") && e.to_string().contains("blk.0.ffn_down.weight"),
            "{e}"
        );
        assert!(dequantize(8, &b[..20], 32, "t").is_err());
    }

    #[test]
    fn names_map_to_hf() {
        assert_eq!(
            hf_name("blk.3.attn_q.bias").as_deref(),
            Some("model.layers.3.self_attn.q_proj.bias")
        );
        assert_eq!(
            hf_name("blk.12.ffn_norm.weight").as_deref(),
            Some("model.layers.12.post_attention_layernorm.weight")
        );
        assert_eq!(
            hf_name("blk.0.attn_k_norm.weight").as_deref(),
            Some("model.layers.0.self_attn.k_norm.weight")
        );
        assert_eq!(
            hf_name("token_embd.weight").as_deref(),
            Some("model.embed_tokens.weight")
        );
        assert_eq!(hf_name("rope_freqs.weight"), None);
        assert_eq!(hf_name("blk.x.attn_q.weight"), None);
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(rows, cols)
        let (nh, d, cols) = (3i64, 8i64, 5i64);
        let w = Tensor::arange(nh * d * cols, (Kind::Float, Device::Cpu)).reshape([nh * d, cols]);
        let permuted = w
            .reshape([nh, 2, d / 2, cols])
            .transpose(1, 2)
            .reshape([nh * d, cols]);
        let back = unpermute(&permuted, nh);
        assert!(back.equal(&w));
    }
}
