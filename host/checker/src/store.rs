//! Verdict records in the host's sled store: `checker/verdicts` (id → [`VerdictRecord`] JSON),
//! `checker/sources` (sha256 → checker source), `checker/inputs` (input sha256 → [`CheckInput`]
//! JSON), `checker/meta` (the id counter). Sources and inputs are content-addressed, so a
//! checker run on many trajectories, or many checkers on one, are stored once.

use std::time::{SystemTime, UNIX_EPOCH};

use eigenbox_audit::{ActionKind, Actor, AuditLog, DecisionRecord, Outcome as AuditOutcome, Record};
use eigenbox_manifest::sha256_hex;
use eigenbox_runtime::LoadedComponent;
use serde::{Deserialize, Serialize};

use crate::{CheckInput, CheckRun, CheckerError, CheckerHostError, Outcome, Provenance, Stats};

const VERDICTS: &str = "checker/verdicts";
const SOURCES: &str = "checker/sources";
const INPUTS: &str = "checker/inputs";
const META: &str = "checker/meta";

/// One recorded check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerdictRecord {
    /// `chk-000001`, ...
    pub id: String,
    /// Unix milliseconds.
    pub time_ms: u64,
    /// Verdict or typed error.
    pub outcome: Outcome,
    /// Checker, interpreter and input hashes, limits.
    pub provenance: Provenance,
    /// Fuel, time, memory.
    pub stats: Stats,
    /// The audit record's sequence number, when an audit log was configured.
    pub audit_seq: Option<u64>,
}

/// The checker tables of a sled database (usually the host's store, `eigenbox_store::Store::db`).
#[derive(Clone)]
pub struct CheckerStore {
    db: sled::Db,
    verdicts: sled::Tree,
    sources: sled::Tree,
    inputs: sled::Tree,
    meta: sled::Tree,
}

impl std::fmt::Debug for CheckerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckerStore").field("verdicts", &self.verdicts.len()).finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn audit_outcome(outcome: &Outcome) -> AuditOutcome {
    match outcome {
        Outcome::Verdict(_) => AuditOutcome::Ok,
        Outcome::Error { error } => match error {
            CheckerError::OutOfFuel { .. } => AuditOutcome::OutOfFuel,
            CheckerError::Timeout { .. } => AuditOutcome::Timeout,
            CheckerError::OutOfMemory { .. } => AuditOutcome::OutOfMemory,
            CheckerError::Trap { .. } => AuditOutcome::Trap,
            _ => AuditOutcome::Error,
        },
    }
}

impl CheckerStore {
    /// Open the checker tables in `db`.
    pub fn open(db: &sled::Db) -> Result<CheckerStore, CheckerHostError> {
        Ok(CheckerStore {
            db: db.clone(),
            verdicts: db.open_tree(VERDICTS)?,
            sources: db.open_tree(SOURCES)?,
            inputs: db.open_tree(INPUTS)?,
            meta: db.open_tree(META)?,
        })
    }

    fn next_id(&self) -> Result<String, CheckerHostError> {
        let next = self.meta.update_and_fetch("counter", |old| {
            let n = old.and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        let n = next.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map(u64::from_be_bytes).unwrap_or(1);
        Ok(format!("chk-{n:06}"))
    }

    /// Store a finished check (source, input, record) and append its audit record.
    pub fn insert(
        &self,
        program: &str,
        input: &CheckInput,
        run: CheckRun,
        audit: Option<&AuditLog>,
        interpreter: &LoadedComponent,
    ) -> Result<VerdictRecord, CheckerHostError> {
        let CheckRun { outcome, provenance, stats } = run;
        self.sources.insert(provenance.checker_sha256.as_bytes(), program.as_bytes())?;
        let input_json = serde_json::to_vec(input).map_err(|e| CheckerHostError::Corrupt { key: provenance.input_sha256.clone(), message: e.to_string() })?;
        self.inputs.insert(provenance.input_sha256.as_bytes(), input_json)?;
        let id = self.next_id()?;
        let outcome_json = serde_json::to_string(&outcome).unwrap_or_default();
        let audit_seq = match audit {
            Some(log) => {
                let actor = Actor {
                    component: interpreter.id().to_string(),
                    sha256: Some(interpreter.sha256().to_string()),
                    wit: Some(interpreter.world().wit_name().to_string()),
                    role: Some("checker".into()),
                };
                let decision = DecisionRecord {
                    allow: true,
                    rules: Vec::new(),
                    policy_hash: String::new(),
                    reason: "checker runs need no capability (the checker world imports nothing)".into(),
                };
                let mut r = Record::new(actor, ActionKind::Check, format!("checker:{}", provenance.checker_sha256), decision, audit_outcome(&outcome))
                    .with_result(&outcome_json);
                r.run = Some(id.clone());
                r.args_sha256 = Some(provenance.input_sha256.clone());
                r.fuel = Some(stats.fuel);
                r.wall_us = Some(stats.wall_us);
                r.memory_bytes = Some(stats.peak_memory);
                let seq = log.append(r)?;
                log.commit()?;
                Some(seq)
            }
            None => None,
        };
        let record = VerdictRecord { id: id.clone(), time_ms: now_ms(), outcome, provenance, stats, audit_seq };
        let bytes = serde_json::to_vec(&record).map_err(|e| CheckerHostError::Corrupt { key: id.clone(), message: e.to_string() })?;
        self.verdicts.insert(id.as_bytes(), bytes)?;
        self.db.flush()?;
        tracing::info!(id = %record.id, outcome = %record.outcome, checker = %record.provenance.checker_sha256, "checker verdict recorded");
        Ok(record)
    }

    /// A verdict record by id.
    pub fn get(&self, id: &str) -> Result<Option<VerdictRecord>, CheckerHostError> {
        match self.verdicts.get(id.as_bytes())? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| CheckerHostError::Corrupt { key: id.into(), message: e.to_string() }),
            None => Ok(None),
        }
    }

    /// Every verdict record, oldest first.
    pub fn list(&self) -> Result<Vec<VerdictRecord>, CheckerHostError> {
        let mut out = Vec::new();
        for item in self.verdicts.iter() {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            out.push(serde_json::from_slice(&v).map_err(|e| CheckerHostError::Corrupt { key, message: e.to_string() })?);
        }
        Ok(out)
    }

    /// A checker source by sha256 (checked against it).
    pub fn source(&self, sha256: &str) -> Result<String, CheckerHostError> {
        let v = self.sources.get(sha256.as_bytes())?.ok_or_else(|| CheckerHostError::NotFound(format!("source {sha256}")))?;
        if sha256_hex(&v) != sha256 {
            return Err(CheckerHostError::Corrupt { key: format!("source {sha256}"), message: "the stored source does not hash to its key".into() });
        }
        String::from_utf8(v.to_vec()).map_err(|e| CheckerHostError::Corrupt { key: format!("source {sha256}"), message: e.to_string() })
    }

    /// A check input by its [`CheckInput::sha256`] (checked against it).
    pub fn input(&self, sha256: &str) -> Result<CheckInput, CheckerHostError> {
        let v = self.inputs.get(sha256.as_bytes())?.ok_or_else(|| CheckerHostError::NotFound(format!("input {sha256}")))?;
        let input: CheckInput = serde_json::from_slice(&v).map_err(|e| CheckerHostError::Corrupt { key: format!("input {sha256}"), message: e.to_string() })?;
        if input.sha256() != sha256 {
            return Err(CheckerHostError::Corrupt { key: format!("input {sha256}"), message: "the stored input does not hash to its key".into() });
        }
        Ok(input)
    }
}
