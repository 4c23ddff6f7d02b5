//! A tamper-evident audit log of every access the eigenbox host mediates.
//!
//! * **What**: one [`Record`] per mediated access: sequence number, time, run and episode,
//!   actor (component id, wasm sha256, WIT world, role), action (tool / llm / capability),
//!   target, argument and result hashes (and the arguments, unless redacted), the policy
//!   decision (allow/deny, matched rules, policy hash), the outcome, fuel, wall time, memory.
//! * **How**: an append-only [RFC 6962](https://www.rfc-editor.org/rfc/rfc6962) Merkle tree
//!   (leaf hash `SHA-256(0x00‖record)`, node hash `SHA-256(0x01‖left‖right)`) kept in one sled
//!   tree inside a database the caller passes (so it can share the host's store), with
//!   ed25519-signed tree heads at checkpoints. A commit stores its entries as one sled value (a
//!   chunk, see [`store`]) beside the hashes of the nodes they complete, so committing costs one
//!   insert and one flush however many records it holds. The store is versioned ([`FORMAT`]);
//!   another format is refused ([`AuditError::Format`]). The signing key is created once, mode 0600
//!   ([`LogKey`]); auditors get only the public key ([`PublicKey`]).
//! * **Durability**: [`AuditLog::append`] buffers; [`AuditLog::commit`] writes the batch
//!   atomically, flushes it to disk and signs a head: what it acknowledges survives a crash
//!   (tested by killing a writer with SIGKILL mid-burst).
//! * **Proofs**: inclusion ([`AuditLog::inclusion_proof`]) and consistency
//!   ([`AuditLog::consistency_proof`]) per RFC 6962 §2.1.1/§2.1.2, checked with
//!   [`merkle::verify_inclusion`] / [`merkle::verify_consistency`].
//! * **Offline verification**: [`export()`] writes JSONL with every signed head and each
//!   entry's audit path; [`verify_export`] recomputes the tree and checks every signature with
//!   only the public key, naming the first bad line and entry.
//!
//! No wasmtime here.
//!
//! ```
//! use eigenbox_audit::*;
//! # let dir = tempfile::tempdir().unwrap();
//! let db = sled::open(dir.path().join("store"))?;
//! let key = LogKey::create(&dir.path().join("audit.key"))?;
//! let public = key.public();
//! let log = AuditLog::open(&db, Some(key), AuditConfig::default())?;
//!
//! let decision = DecisionRecord { allow: true, rules: vec!["agents-read".into()], policy_hash: "ab".repeat(32), reason: "allowed".into() };
//! let actor = Actor { component: "assistant".into(), role: Some("assistant".into()), ..Actor::default() };
//! let seq = log.append(Record::new(actor, ActionKind::Tool, "mock/get_users", decision, Outcome::Ok).with_args("{}"))?;
//! log.commit()?; // acknowledged: on disk, under a signed head
//!
//! let mut out = Vec::new();
//! export(&log, &Filter::default(), &mut out)?;
//! let verified = verify_export(&mut out.as_slice(), &public, None).expect("intact");
//! assert_eq!((seq, verified.entries), (0, 1));
//! # Ok::<(), AuditError>(())
//! ```

#![warn(missing_docs)]

mod export;
mod keys;
mod log;
pub mod merkle;
mod record;
pub mod store;

use std::path::PathBuf;

pub use export::{export, verify_export, ConsistencyProof, ExportSummary, Failure, InclusionProof, Line, Verified, EXPORT_FORMAT};
pub use keys::{LogKey, PublicKey, SignedTreeHead};
pub use log::{AuditConfig, AuditLog, FORMAT, TREE};
pub use record::{sha256_hex, ActionKind, Actor, DecisionRecord, Outcome, Record};

/// Audit log errors.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// sled failed.
    #[error("audit store error: {0}")]
    Sled(String),
    /// The stored log is damaged or foreign.
    #[error("audit log is corrupt: {0}")]
    Corrupt(String),
    /// The store was written in another format (an older eigenbox): it is refused rather than
    /// misread.
    #[error("the audit log is stored in format `{found}`, this build reads only `{expected}`: read or export it with the eigenbox that wrote it, or keep the audit log in a new store")]
    Format {
        /// The store's format marker.
        found: String,
        /// [`FORMAT`].
        expected: String,
    },
    /// The stored log fails its integrity check.
    #[error("audit log tampered{}: {message}", seq.map(|s| format!(" at entry {s}")).unwrap_or_default())]
    Tampered {
        /// The first bad entry, when one is to blame.
        seq: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The signing key file.
    #[error("audit signing key {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A public key that does not parse.
    #[error("bad public key: {0}")]
    BadPublicKey(String),
    /// Signing needs the key and the log was opened without it.
    #[error("the audit log was opened without its signing key")]
    NoKey,
    /// A sequence number or size past the committed log.
    #[error("out of range: {0}")]
    OutOfRange(String),
    /// Writing an export.
    #[error("i/o error: {0}")]
    Io(String),
}

impl From<sled::Error> for AuditError {
    fn from(e: sled::Error) -> Self {
        AuditError::Sled(e.to_string())
    }
}

/// Which records to show or export. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Run id.
    pub run: Option<String>,
    /// Episode id.
    pub episode: Option<String>,
    /// Actor (component id or agent name).
    pub component: Option<String>,
    /// Target: `domain/tool` (or just the tool name), model, or capability.
    pub tool: Option<String>,
    /// Allowed (`true`) or denied (`false`).
    pub allow: Option<bool>,
    /// From this Unix millisecond on (inclusive).
    pub since_ms: Option<u64>,
    /// Before this Unix millisecond (exclusive).
    pub until_ms: Option<u64>,
}

impl Filter {
    /// Whether nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self == &Filter::default()
    }

    /// Does the record match?
    pub fn matches(&self, r: &Record) -> bool {
        self.run.as_ref().is_none_or(|x| r.run.as_ref() == Some(x))
            && self.episode.as_ref().is_none_or(|x| r.episode.as_ref() == Some(x))
            && self.component.as_ref().is_none_or(|x| &r.actor.component == x)
            && self.tool.as_ref().is_none_or(|x| &r.target == x || r.target.rsplit_once('/').is_some_and(|(_, t)| t == x))
            && self.allow.is_none_or(|a| r.decision.allow == a)
            && self.since_ms.is_none_or(|t| r.time_ms >= t)
            && self.until_ms.is_none_or(|t| r.time_ms < t)
    }
}
