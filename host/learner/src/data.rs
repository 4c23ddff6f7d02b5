//! SFT data: examples with a loss mask, the JSONL dialogue loader and right-padded batching.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{LearnerError, Result};

pub use eigenbox_model::TokenRole;

/// Which model an SFT run trains, hence which tokens carry loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainRole {
    /// The agent: loss on `Assistant` tokens.
    Agent,
    /// The user simulator: loss on `User` tokens.
    UserSimulator,
}

impl TrainRole {
    /// Whether tokens of `role` are trained.
    pub fn trains(self, role: TokenRole) -> bool {
        matches!(
            (self, role),
            (TrainRole::Agent, TokenRole::Assistant) | (TrainRole::UserSimulator, TokenRole::User)
        )
    }
}

/// One SFT example: token ids and, per token, whether predicting it is trained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftExample {
    /// Token ids.
    pub ids: Vec<i64>,
    /// `loss_mask[t]`: train the prediction of `ids[t]` (the first entry is ignored).
    pub loss_mask: Vec<bool>,
}

impl SftExample {
    /// From an encoded dialogue's per-token roles.
    pub fn from_roles(ids: Vec<i64>, roles: &[TokenRole], train: TrainRole) -> Result<Self> {
        if ids.len() != roles.len() {
            return Err(LearnerError::Batch(format!(
                "{} ids but {} roles",
                ids.len(),
                roles.len()
            )));
        }
        let loss_mask = roles.iter().map(|r| train.trains(*r)).collect();
        Ok(SftExample { ids, loss_mask })
    }

    /// Number of trained (predicted) tokens.
    pub fn trained_tokens(&self) -> usize {
        self.loss_mask.iter().skip(1).filter(|m| **m).count()
    }

    /// Keeps the first `max_len` tokens.
    pub fn truncate(&mut self, max_len: usize) {
        self.ids.truncate(max_len);
        self.loss_mask.truncate(max_len);
    }
}

/// A right-padded batch on a device.
pub struct Batch {
    /// `[B, T]` int64 token ids, padded with the pad id.
    pub ids: Tensor,
    /// `[B, T]` float mask of trained tokens (0 on padding).
    pub mask: Tensor,
    /// Trained (predicted) tokens in the batch.
    pub trained_tokens: usize,
    /// Non-padding tokens in the batch.
    pub tokens: usize,
}

/// Right-pads `examples` to their longest length. Errors on empty input, empty examples,
/// mismatched mask lengths or ids outside `0..vocab_size`.
pub fn collate(
    examples: &[&SftExample],
    pad_id: i64,
    vocab_size: i64,
    device: Device,
) -> Result<Batch> {
    let rows: Vec<(&[i64], Vec<f32>)> = examples
        .iter()
        .map(|e| {
            (
                e.ids.as_slice(),
                e.loss_mask
                    .iter()
                    .map(|&m| if m { 1.0 } else { 0.0 })
                    .collect(),
            )
        })
        .collect();
    collate_rows(&rows, pad_id, vocab_size, device)
}

pub(crate) fn collate_rows(
    rows: &[(&[i64], Vec<f32>)],
    pad_id: i64,
    vocab_size: i64,
    device: Device,
) -> Result<Batch> {
    if rows.is_empty() {
        return Err(LearnerError::Batch("empty batch".into()));
    }
    let t = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    if t < 2 {
        return Err(LearnerError::Batch(
            "every example is shorter than 2 tokens".into(),
        ));
    }
    let b = rows.len();
    let mut ids = vec![pad_id; b * t];
    let mut mask = vec![0f32; b * t];
    let (mut trained, mut tokens) = (0usize, 0usize);
    for (i, (row_ids, row_mask)) in rows.iter().enumerate() {
        if row_ids.len() != row_mask.len() {
            return Err(LearnerError::Batch(format!(
                "example {i}: {} ids but {} mask entries",
                row_ids.len(),
                row_mask.len()
            )));
        }
        if let Some(bad) = row_ids.iter().find(|&&x| x < 0 || x >= vocab_size) {
            return Err(LearnerError::Batch(format!(
                "example {i}: token id {bad} outside 0..{vocab_size}"
            )));
        }
        ids[i * t..i * t + row_ids.len()].copy_from_slice(row_ids);
        for (j, &m) in row_mask.iter().enumerate().skip(1) {
            mask[i * t + j] = m;
            if m != 0.0 {
                trained += 1;
            }
        }
        tokens += row_ids.len();
    }
    let shape = [b as i64, t as i64];
    Ok(Batch {
        ids: Tensor::from_slice(&ids).view(shape).to_device(device),
        mask: Tensor::from_slice(&mask)
            .view(shape)
            .to_kind(Kind::Float)
            .to_device(device),
        trained_tokens: trained,
        tokens,
    })
}

/// One line of a dialogue JSONL file: OpenAI-shaped `messages` and optional `tools`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DialogueRecord {
    /// Messages (`{"role": "system"|"user"|"assistant"|"tool", "content": ..., "tool_calls": ...}`).
    pub messages: Vec<serde_json::Value>,
    /// Tool schemas (OpenAI function format).
    #[serde(default)]
    pub tools: Vec<serde_json::Value>,
}

/// Turns a dialogue into token ids with per-token roles (a tokenizer plus chat template).
/// [`ModelEncoder`] (over `eigenbox_model::encode_dialogue`) is the production implementation.
pub trait DialogueEncoder {
    /// Encodes one dialogue.
    fn encode(&self, record: &DialogueRecord) -> Result<(Vec<i64>, Vec<TokenRole>)>;
}

/// [`DialogueEncoder`] over the model crate's tokenizer and chat template
/// (`eigenbox_model::encode_dialogue`): each message must parse as an OpenAI-shaped
/// `eigenbox_model::ChatMessage`.
pub struct ModelEncoder {
    /// The model's tokenizer.
    pub tokenizer: eigenbox_model::Tokenizer,
    /// The model's chat template.
    pub template: eigenbox_model::ChatTemplate,
}

impl DialogueEncoder for ModelEncoder {
    fn encode(&self, record: &DialogueRecord) -> Result<(Vec<i64>, Vec<TokenRole>)> {
        let messages = record
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                serde_json::from_value::<eigenbox_model::ChatMessage>(m.clone())
                    .map_err(|e| LearnerError::Batch(format!("message {i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let enc = eigenbox_model::encode_dialogue(
            &self.tokenizer,
            &self.template,
            &messages,
            &record.tools,
        )
        .map_err(|e| LearnerError::Batch(format!("encode_dialogue: {e}")))?;
        Ok((enc.ids, enc.roles))
    }
}

/// What [`load_dialogues_jsonl`] read.
#[derive(Debug)]
pub struct LoadedDialogues {
    /// Examples with at least one trained token.
    pub examples: Vec<SftExample>,
    /// Dialogues dropped because no token of the trained role survived truncation.
    pub skipped_untrained: usize,
    /// Dialogues longer than `max_len` (truncated).
    pub truncated: usize,
}

/// Reads a JSONL file of [`DialogueRecord`]s (blank lines allowed), encodes each with
/// `encoder` and keeps the loss on `train`'s tokens, truncating to `max_len` tokens.
pub fn load_dialogues_jsonl(
    path: &Path,
    encoder: &dyn DialogueEncoder,
    train: TrainRole,
    max_len: usize,
) -> Result<LoadedDialogues> {
    let f = std::fs::File::open(path).map_err(|e| LearnerError::io(path, e))?;
    let mut out = LoadedDialogues {
        examples: vec![],
        skipped_untrained: 0,
        truncated: 0,
    };
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| LearnerError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let data_err = |msg: String| LearnerError::Data {
            path: path.to_path_buf(),
            line: i + 1,
            msg,
        };
        let rec: DialogueRecord = serde_json::from_str(&line)
            .map_err(|e| data_err(format!("not a dialogue record: {e}")))?;
        for (j, m) in rec.messages.iter().enumerate() {
            match m.get("role").and_then(|r| r.as_str()) {
                Some("system" | "user" | "assistant" | "tool") => {}
                Some(r) => return Err(data_err(format!("message {j}: unknown role {r:?}"))),
                None => return Err(data_err(format!("message {j}: missing string \"role\""))),
            }
        }
        if rec.messages.is_empty() {
            return Err(data_err("no messages".into()));
        }
        let (ids, roles) = encoder
            .encode(&rec)
            .map_err(|e| data_err(format!("encoding failed: {e}")))?;
        let mut ex =
            SftExample::from_roles(ids, &roles, train).map_err(|e| data_err(e.to_string()))?;
        if ex.ids.len() > max_len {
            out.truncated += 1;
            ex.truncate(max_len);
        }
        if ex.trained_tokens() == 0 {
            out.skipped_untrained += 1;
            continue;
        }
        out.examples.push(ex);
    }
    if out.skipped_untrained > 0 || out.truncated > 0 {
        tracing::info!(path = %path.display(), kept = out.examples.len(), skipped = out.skipped_untrained, truncated = out.truncated, "loaded dialogues");
    }
    Ok(out)
}
