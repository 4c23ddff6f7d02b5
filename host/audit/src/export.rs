//! JSONL export with the proofs an auditor needs offline, and its verification with only the
//! log's public key.
//!
//! Lines, in order:
//! 1. `{"type":"header", ...}`: format, the log's size, its public key (for information only:
//!    verification uses the key the auditor already holds), whether entries were filtered;
//! 2. `{"type":"head", "head": {...}, "consistency": {...}}`: every signed tree head, by size,
//!    each with a consistency proof from the previous one;
//! 3. `{"type":"entry", "seq": N, "leaf_hash": ..., "record": {...}, "proof": {...}}`: the
//!    entries (all, or those matching a filter), each with its audit path to the latest head.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::keys::{decode_hash, PublicKey, SignedTreeHead};
use crate::log::{now_ms, AuditLog};
use crate::merkle::{leaf_hash, verify_consistency, verify_inclusion, Hash, MemoryTree};
use crate::record::Record;
use crate::{AuditError, Filter};

/// The export format marker.
pub const EXPORT_FORMAT: &str = "eigenbox-audit-export/1";

/// An audit path, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// Size of the signed tree the path leads to.
    pub tree_size: u64,
    /// Sibling hashes, leaf to root.
    pub path: Vec<String>,
}

/// A consistency proof, hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The proof's hashes.
    pub path: Vec<String>,
}

/// One line of an export.
#[allow(clippy::large_enum_variant)] // lines are read one at a time; boxing buys nothing
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Line {
    /// The first line.
    Header {
        /// [`EXPORT_FORMAT`].
        format: String,
        /// Committed entries in the log at export time.
        size: u64,
        /// The log's public key (hex), for information.
        public_key: Option<String>,
        /// Whether only some entries are included.
        filtered: bool,
        /// Unix milliseconds.
        exported_ms: u64,
    },
    /// A signed tree head.
    Head {
        /// The head.
        head: SignedTreeHead,
        /// Proof that the previous head's tree is a prefix of this one.
        consistency: Option<ConsistencyProof>,
    },
    /// An entry.
    Entry {
        /// Its sequence number.
        seq: u64,
        /// Hex leaf hash of the record's canonical bytes.
        leaf_hash: String,
        /// The record.
        record: Record,
        /// Its audit path to the latest head.
        proof: Option<InclusionProof>,
    },
}

fn hexes(v: &[Hash]) -> Vec<String> {
    v.iter().map(hex::encode).collect()
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    /// Entries written.
    pub entries: u64,
    /// Heads written.
    pub heads: u64,
    /// Committed size of the log.
    pub size: u64,
}

/// Write the log (or the entries matching `filter`) as JSONL. Entries past the latest signed
/// head get no proof: checkpoint first ([`AuditLog::checkpoint`]) to cover everything.
pub fn export(log: &AuditLog, filter: &Filter, out: &mut dyn Write) -> Result<ExportSummary, AuditError> {
    let size = log.committed();
    let heads = log.heads()?;
    let io = |e: std::io::Error| AuditError::Io(e.to_string());
    let line = |l: &Line, out: &mut dyn Write| -> Result<(), AuditError> {
        serde_json::to_writer(&mut *out, l).map_err(|e| AuditError::Io(e.to_string()))?;
        out.write_all(b"\n").map_err(io)
    };
    line(&Line::Header { format: EXPORT_FORMAT.into(), size, public_key: log.public_key().map(|k| k.to_hex()), filtered: !filter.is_empty(), exported_ms: now_ms() }, out)?;
    let mut prev: Option<u64> = None;
    for h in &heads {
        let consistency = match prev {
            Some(from) => Some(ConsistencyProof { from, path: hexes(&log.consistency_proof(from, h.size)?) }),
            None => None,
        };
        line(&Line::Head { head: h.clone(), consistency }, out)?;
        prev = Some(h.size);
    }
    let anchor = heads.last().map(|h| h.size).unwrap_or(0);
    let mut entries = 0;
    for seq in 0..size {
        let Some(raw) = log.raw(seq)? else { break };
        let record: Record = serde_json::from_slice(&raw).map_err(|e| AuditError::Corrupt(format!("entry {seq}: {e}")))?;
        if !filter.matches(&record) {
            continue;
        }
        let proof = if seq < anchor { Some(InclusionProof { tree_size: anchor, path: hexes(&log.inclusion_proof(seq, anchor)?) }) } else { None };
        line(&Line::Entry { seq, leaf_hash: hex::encode(leaf_hash(&raw)), record, proof }, out)?;
        entries += 1;
    }
    out.flush().map_err(io)?;
    Ok(ExportSummary { entries, heads: heads.len() as u64, size })
}

/// Where verification failed: the export's line (from 1), the entry when one is to blame, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Line of the export, from 1.
    pub line: usize,
    /// The first bad entry, when the failure is about an entry (or where entries go missing).
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "line {}: entry {s}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What a successful verification checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// Signed heads checked.
    pub heads: u64,
    /// Size of the latest signed head.
    pub size: u64,
    /// Its root, hex.
    pub root: String,
    /// Whether the export holds every entry (so every root was recomputed, not only proved).
    pub complete: bool,
}

/// Verify an export with only the log's public key (and, optionally, a head the auditor kept
/// from before, which catches an export cut back to an earlier head). Reports the first
/// problem: a malformed line, a head with a bad signature or inconsistent with the one before,
/// an entry edited, missing, duplicated, out of order or not covered by a signed head.
pub fn verify_export(input: &mut dyn BufRead, key: &PublicKey, trusted: Option<&SignedTreeHead>) -> Result<Verified, Failure> {
    let fail = |line: usize, seq: Option<u64>, message: String| Failure { line, seq, message };
    let mut lines: Vec<(usize, Line)> = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let n = i + 1;
        let text = text.map_err(|e| fail(n, None, format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(&text).map_err(|e| {
            let seq = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v.get("seq").and_then(|s| s.as_u64()));
            fail(n, seq, format!("malformed line: {e}"))
        })?;
        lines.push((n, parsed));
    }
    let mut it = lines.into_iter().peekable();
    let filtered = match it.next() {
        Some((_, Line::Header { format, filtered, .. })) if format == EXPORT_FORMAT => filtered,
        Some((n, Line::Header { format, .. })) => return Err(fail(n, None, format!("format `{format}`, expected `{EXPORT_FORMAT}`"))),
        Some((n, _)) => return Err(fail(n, None, "the first line must be the header".into())),
        None => return Err(fail(1, None, "empty export".into())),
    };

    // Heads: signed by the auditor's key, in order, each consistent with the one before.
    let mut heads: Vec<(usize, SignedTreeHead, Hash)> = Vec::new();
    while let Some((n, Line::Head { .. })) = it.peek() {
        let n = *n;
        let Some((_, Line::Head { head, consistency })) = it.next() else { break };
        if !key.verify_head(&head) {
            let who = if head.key_id != key.key_id() { format!(" (the head names key {}, the given key is {})", head.key_id, key.key_id()) } else { String::new() };
            return Err(fail(n, None, format!("the signed head at size {} does not verify with the given public key{who}: edited, swapped or signed by another key", head.size)));
        }
        let root = decode_hash(&head.root).map_err(|m| fail(n, None, m))?;
        if let Some((_, prev, prev_root)) = heads.last() {
            if head.size <= prev.size {
                return Err(fail(n, None, format!("signed head at size {} comes after the one at size {} (heads reordered or duplicated)", head.size, prev.size)));
            }
            let Some(c) = consistency else { return Err(fail(n, None, format!("the head at size {} has no consistency proof from size {}", head.size, prev.size))) };
            if c.from != prev.size {
                return Err(fail(n, None, format!("the consistency proof starts at size {}, the previous head is at size {}", c.from, prev.size)));
            }
            let path: Vec<Hash> = c.path.iter().map(|h| decode_hash(h)).collect::<Result<_, _>>().map_err(|m| fail(n, None, m))?;
            if !verify_consistency(prev.size, head.size, prev_root, &root, &path) {
                return Err(fail(n, None, format!("the log at size {} is not an extension of the log at size {} (history rewritten)", head.size, prev.size)));
            }
        }
        heads.push((n, head, root));
    }
    let Some((last_line, last, last_root)) = heads.last().cloned() else {
        return Err(fail(1, None, "the export has no signed tree head: nothing in it can be trusted".into()));
    };

    // Entries.
    let mut tree = MemoryTree::new();
    let mut expected = 0u64;
    let mut count = 0u64;
    for (n, l) in it {
        let Line::Entry { seq, leaf_hash: lh, record, proof } = l else {
            return Err(fail(n, None, "a header or head among the entries (lines reordered or inserted)".into()));
        };
        if !filtered && seq != expected {
            return Err(if seq > expected {
                fail(n, Some(expected), format!("missing: the next entry is {seq} (deleted, or entries reordered)"))
            } else {
                fail(n, Some(seq), format!("appears again after entry {} (inserted or reordered)", expected - 1))
            });
        }
        if filtered && seq < expected {
            return Err(fail(n, Some(seq), "out of order (inserted or reordered)".into()));
        }
        if record.seq != seq {
            return Err(fail(n, Some(seq), format!("the record says seq {} (edited or moved)", record.seq)));
        }
        let h = leaf_hash(&record.canonical());
        if hex::encode(h) != lh {
            return Err(fail(n, Some(seq), "its content does not match its leaf hash (edited)".into()));
        }
        if seq >= last.size {
            return Err(fail(n, Some(seq), format!("not covered by any signed head (the latest covers {} entries): appended after signing, or inserted", last.size)));
        }
        match proof {
            Some(p) => {
                let Some((_, _, root)) = heads.iter().find(|(_, hd, _)| hd.size == p.tree_size) else {
                    return Err(fail(n, Some(seq), format!("its proof leads to size {}, which no signed head has", p.tree_size)));
                };
                let path: Vec<Hash> = p.path.iter().map(|x| decode_hash(x)).collect::<Result<_, _>>().map_err(|m| fail(n, Some(seq), m))?;
                if !verify_inclusion(seq, p.tree_size, &h, &path, root) {
                    return Err(fail(n, Some(seq), format!("not in the signed tree of size {} (edited)", p.tree_size)));
                }
            }
            None if filtered => return Err(fail(n, Some(seq), "a filtered export needs an inclusion proof for every entry".into())),
            None => {}
        }
        if !filtered {
            tree.push(h);
        }
        expected = seq + 1;
        count += 1;
    }

    if !filtered {
        for (n, head, root) in &heads {
            if head.size > tree.len() {
                return Err(fail(*n, Some(tree.len()), format!("the signed head covers {} entries but the export holds {} (truncated)", head.size, tree.len())));
            }
            if tree.root(head.size) != *root {
                // Entries with proofs were checked one by one above; this is a head whose root
                // the entries do not give.
                return Err(fail(*n, None, format!("the entries do not give the root of the signed head at size {}", head.size)));
            }
        }
    }
    if let Some(t) = trusted {
        if !key.verify_head(t) {
            return Err(fail(0, None, "the trusted head does not verify with the given public key".into()));
        }
        let troot = decode_hash(&t.root).map_err(|m| fail(0, None, m))?;
        if t.size > last.size {
            return Err(fail(last_line, Some(last.size), format!("the export ends at size {}, before the trusted head at size {} (truncated)", last.size, t.size)));
        }
        let consistent = match heads.iter().find(|(_, h, _)| h.size == t.size) {
            Some((_, _, r)) => *r == troot,
            None if !filtered => tree.root(t.size) == troot,
            None => false,
        };
        if !consistent {
            return Err(fail(last_line, None, format!("the export is not consistent with the trusted head at size {} (history rewritten)", t.size)));
        }
    }
    Ok(Verified { entries: count, heads: heads.len() as u64, size: last.size, root: hex::encode(last_root), complete: !filtered })
}
