//! The host's durable state, in one sled database: the component registry (every wasm the
//! host has loaded, by sha256, with its manifest and when it was first seen) and runs.
//!
//! Opening something that is not an eigenbox store (a foreign sled database, a corrupt or
//! truncated one, a plain file) is a typed [`StoreError`], never a panic.
//!
//! ```
//! use eigenbox_store::Store;
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(&dir.path().join("state"))?;
//! let run = store.create_run("replay", serde_json::json!({"domain": "mock"}))?;
//! store.finish_run(&run, "ok", serde_json::json!({"matched": true}))?;
//! assert_eq!(store.run(&run)?.unwrap().status, "ok");
//! # Ok::<(), eigenbox_store::StoreError>(())
//! ```

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use eigenbox_manifest::{sha256_hex, Manifest};
use serde::{Deserialize, Serialize};

/// The format marker written into every store.
pub const FORMAT: &str = "eigenbox-store/1";

const META: &str = "meta";
const COMPONENTS: &str = "components";
const WASM: &str = "wasm";
const RUNS: &str = "runs";

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The path exists but is not a database directory.
    #[error("{path} is not an eigenbox store: {reason}")]
    NotAStore {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A sled database written by something else, or by an incompatible eigenbox.
    #[error("{path} is a foreign database (format `{found}`, expected `{FORMAT}`)")]
    Foreign {
        /// The path.
        path: PathBuf,
        /// The marker found (or "none").
        found: String,
    },
    /// Another process has the store open (sled holds an exclusive lock on it).
    #[error("store {path} is in use by another process (another eigenbox command is running on it; wait for it, or pass another --store)")]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// sled could not open or read the database.
    #[error("store {path} is corrupt or unreadable: {reason}")]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// sled's message.
        reason: String,
    },
    /// A record does not decode.
    #[error("corrupt record `{key}` in tree `{tree}`: {reason}")]
    BadRecord {
        /// Tree name.
        tree: &'static str,
        /// Record key.
        key: String,
        /// Why.
        reason: String,
    },
    /// Stored wasm bytes no longer match their hash.
    #[error("stored wasm {sha256} fails its hash check (store damaged)")]
    HashMismatch {
        /// The key.
        sha256: String,
    },
    /// An I/O or sled error after opening.
    #[error("store error: {0}")]
    Sled(String),
    /// No such run.
    #[error("no run `{0}`")]
    NoSuchRun(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Sled(e.to_string())
    }
}

/// A registered component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    /// sha256 of the wasm.
    pub sha256: String,
    /// Component id.
    pub id: String,
    /// Version.
    pub version: String,
    /// The manifest, as TOML.
    pub manifest: String,
    /// Wasm size in bytes.
    pub size: u64,
    /// Unix seconds when the host first saw these bytes.
    pub first_seen: u64,
}

/// A run record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id (`run-000001`).
    pub id: String,
    /// What kind of job (`replay`, `conformance`, `eval`, ...).
    pub kind: String,
    /// Parameters.
    pub params: serde_json::Value,
    /// Unix seconds.
    pub started: u64,
    /// Unix seconds, once finished.
    pub finished: Option<u64>,
    /// `running`, `ok`, `failed`, ...
    pub status: String,
    /// Result summary.
    pub summary: serde_json::Value,
}

/// An open store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    path: PathBuf,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Store {
    /// Open (creating if absent) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if path.exists() && !path.is_dir() {
            return Err(StoreError::NotAStore { path: path.into(), reason: "it is a file, not a directory".into() });
        }
        let fresh = !path.exists() || std::fs::read_dir(path).map(|mut d| d.next().is_none()).unwrap_or(false);
        if !fresh && !path.join("conf").exists() && !path.join("db").exists() {
            return Err(StoreError::NotAStore { path: path.into(), reason: "the directory has files but no sled database".into() });
        }
        // sled can panic on some kinds of damage; never let that take the host down.
        let opened = catch_unwind(AssertUnwindSafe(|| sled::Config::new().path(path).open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            // sled 0.34 reports its lock as an io error with this text (kind `Other`).
            Ok(Err(sled::Error::Io(e))) if e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock") => {
                return Err(StoreError::InUse { path: path.into() })
            }
            Ok(Err(e)) => return Err(StoreError::Corrupt { path: path.into(), reason: e.to_string() }),
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "sled panicked while opening".into());
                return Err(StoreError::Corrupt { path: path.into(), reason });
            }
        };
        let meta = db.open_tree(META)?;
        match meta.get("format")? {
            Some(v) if v.as_ref() == FORMAT.as_bytes() => {}
            Some(v) => return Err(StoreError::Foreign { path: path.into(), found: String::from_utf8_lossy(&v).into_owned() }),
            None => {
                let names = db.tree_names();
                let has_data = names.iter().any(|n| n.as_ref() != b"__sled__default" && n.as_ref() != META.as_bytes()) || !db.is_empty();
                if has_data {
                    return Err(StoreError::Foreign { path: path.into(), found: "none".into() });
                }
                meta.insert("format", FORMAT.as_bytes())?;
                meta.insert("created", now().to_string().as_bytes())?;
                db.flush()?;
            }
        }
        Ok(Store { db, path: path.into() })
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Register a component's bytes; idempotent (the first-seen time is kept).
    pub fn register(&self, manifest: &Manifest, wasm: &[u8]) -> Result<RegistryEntry, StoreError> {
        let sha256 = sha256_hex(wasm);
        let components = self.db.open_tree(COMPONENTS)?;
        if let Some(existing) = components.get(&sha256)? {
            return decode(COMPONENTS, &sha256, &existing);
        }
        let entry = RegistryEntry {
            sha256: sha256.clone(),
            id: manifest.id.clone(),
            version: manifest.version.to_string(),
            manifest: manifest.to_toml_string(),
            size: wasm.len() as u64,
            first_seen: now(),
        };
        self.db.open_tree(WASM)?.insert(&sha256, wasm)?;
        components.insert(&sha256, encode(&entry)?)?;
        self.db.flush()?;
        Ok(entry)
    }

    /// A registered component by hash.
    pub fn component(&self, sha256: &str) -> Result<Option<RegistryEntry>, StoreError> {
        match self.db.open_tree(COMPONENTS)?.get(sha256)? {
            Some(v) => decode(COMPONENTS, sha256, &v).map(Some),
            None => Ok(None),
        }
    }

    /// All registered components.
    pub fn components(&self) -> Result<Vec<RegistryEntry>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.open_tree(COMPONENTS)?.iter() {
            let (k, v) = kv?;
            out.push(decode(COMPONENTS, &String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    /// The wasm bytes of a registered component, hash-checked.
    pub fn wasm(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.db.open_tree(WASM)?.get(sha256)? {
            Some(v) => {
                if sha256_hex(&v) != sha256 {
                    return Err(StoreError::HashMismatch { sha256: sha256.into() });
                }
                Ok(Some(v.to_vec()))
            }
            None => Ok(None),
        }
    }

    /// Start a run.
    pub fn create_run(&self, kind: &str, params: serde_json::Value) -> Result<String, StoreError> {
        let next = self.db.open_tree(META)?.update_and_fetch("run-counter", |old| {
            let n = old.and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        let n = next.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map(u64::from_be_bytes).unwrap_or(1);
        let id = format!("run-{n:06}");
        let run = Run { id: id.clone(), kind: kind.into(), params, started: now(), finished: None, status: "running".into(), summary: serde_json::Value::Null };
        self.db.open_tree(RUNS)?.insert(&id, encode(&run)?)?;
        self.db.flush()?;
        Ok(id)
    }

    /// Finish a run with a status and summary.
    pub fn finish_run(&self, id: &str, status: &str, summary: serde_json::Value) -> Result<(), StoreError> {
        let runs = self.db.open_tree(RUNS)?;
        let mut run: Run = match runs.get(id)? {
            Some(v) => decode(RUNS, id, &v)?,
            None => return Err(StoreError::NoSuchRun(id.into())),
        };
        run.finished = Some(now());
        run.status = status.into();
        run.summary = summary;
        runs.insert(id, encode(&run)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// One run.
    pub fn run(&self, id: &str) -> Result<Option<Run>, StoreError> {
        match self.db.open_tree(RUNS)?.get(id)? {
            Some(v) => decode(RUNS, id, &v).map(Some),
            None => Ok(None),
        }
    }

    /// All runs, oldest first.
    pub fn runs(&self) -> Result<Vec<Run>, StoreError> {
        let mut out = Vec::new();
        for kv in self.db.open_tree(RUNS)?.iter() {
            let (k, v) = kv?;
            out.push(decode(RUNS, &String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }

    /// The underlying sled database, for crates that keep their own trees here.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Sled(e.to_string()))
}

fn decode<T: for<'de> Deserialize<'de>>(tree: &'static str, key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::BadRecord { tree, key: key.into(), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(wasm: &[u8]) -> Manifest {
        Manifest::from_toml_str(&format!(
            "id = \"acme:x\"\nversion = \"1.2.3\"\nworld = \"eigenbox:domain/domain-plugin@0.1.0\"\nwasm = \"x.wasm\"\nsha256 = \"{}\"\n",
            sha256_hex(wasm)
        ))
        .unwrap()
    }

    #[test]
    fn registry_round_trip_and_first_seen_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s")).unwrap();
        let e1 = s.register(&manifest(b"abc"), b"abc").unwrap();
        let e2 = s.register(&manifest(b"abc"), b"abc").unwrap();
        assert_eq!(e1, e2);
        assert_eq!(s.wasm(&e1.sha256).unwrap().unwrap(), b"abc");
        assert_eq!(s.components().unwrap().len(), 1);
        drop(s);
        let s = Store::open(&dir.path().join("s")).unwrap();
        assert_eq!(s.component(&e1.sha256).unwrap().unwrap().version, "1.2.3");
    }

    #[test]
    fn runs_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s")).unwrap();
        let a = s.create_run("replay", serde_json::json!({"t": 1})).unwrap();
        let b = s.create_run("replay", serde_json::json!({"t": 2})).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("run-000001", "run-000002"));
        drop(s);
        let s = Store::open(&dir.path().join("s")).unwrap();
        assert_eq!(s.create_run("replay", serde_json::Value::Null).unwrap(), "run-000003", "ids stay contiguous across reopen");
        s.finish_run(&a, "ok", serde_json::json!(3)).unwrap();
        let runs = s.runs().unwrap();
        assert_eq!(runs.len(), 3);
        assert_eq!(runs[0].status, "ok");
        assert_eq!(runs[1].status, "running");
        assert!(matches!(s.finish_run("run-999999", "ok", serde_json::Value::Null), Err(StoreError::NoSuchRun(_))));
    }

    #[test]
    fn a_plain_file_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("file");
        std::fs::write(&f, b"hello").unwrap();
        assert!(matches!(Store::open(&f), Err(StoreError::NotAStore { .. })));
        let d = dir.path().join("dir");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("notes.txt"), b"x").unwrap();
        assert!(matches!(Store::open(&d), Err(StoreError::NotAStore { .. })));
    }

    #[test]
    fn a_foreign_sled_db_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("foreign");
        {
            let db = sled::open(&p).unwrap();
            db.insert("k", "v").unwrap();
            db.flush().unwrap();
        }
        let e = Store::open(&p).err().unwrap();
        assert!(matches!(e, StoreError::Foreign { .. }), "{e}");
    }

    #[test]
    fn a_corrupt_store_gives_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        {
            let s = Store::open(&p).unwrap();
            s.register(&manifest(b"abc"), b"abc").unwrap();
        }
        // Overwrite the data and config files with garbage.
        for name in ["db", "conf"] {
            let f = p.join(name);
            if f.exists() {
                let len = std::fs::metadata(&f).unwrap().len().max(64) as usize;
                std::fs::write(&f, vec![0xA5u8; len]).unwrap();
            }
        }
        match Store::open(&p) {
            Err(StoreError::Corrupt { .. }) | Err(StoreError::Foreign { .. }) => {}
            Err(other) => panic!("unexpected error kind: {other}"),
            Ok(s) => {
                // sled may recover an empty db from a destroyed log; then the marker is gone.
                panic!("garbage store opened: {:?}", s.components().map(|c| c.len()));
            }
        }
    }

    #[test]
    fn a_damaged_record_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s")).unwrap();
        s.db().open_tree(RUNS).unwrap().insert("run-000001", &b"{not json"[..]).unwrap();
        assert!(matches!(s.run("run-000001"), Err(StoreError::BadRecord { .. })));
        s.db().open_tree(WASM).unwrap().insert("aa", &b"zz"[..]).unwrap();
        assert!(matches!(s.wasm("aa"), Err(StoreError::HashMismatch { .. })));
    }

    #[test]
    fn a_store_open_elsewhere_is_reported_in_use_not_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let _held = Store::open(&p).unwrap();
        // sled's lock is per open file description: a second open in this process is refused the same way.
        match Store::open(&p) {
            Err(StoreError::InUse { path }) => assert_eq!(path, p),
            Err(other) => panic!("unexpected error: {other}"),
            Ok(_) => panic!("a second open of a locked store succeeded"),
        }
    }
}
