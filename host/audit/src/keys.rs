//! The log's ed25519 signing key: created once with owner-only permissions, never widened.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;
use crate::AuditError;

const SIGNED_PREFIX: &[u8] = b"eigenbox-audit-sth/1\n";

/// A signing key file: 64 hex digits (the ed25519 seed) and a newline, mode 0600.
pub struct LogKey {
    key: SigningKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey").field("key_id", &key_id(&self.key.verifying_key())).finish_non_exhaustive()
    }
}

impl LogKey {
    /// Create a new key at `path` (which must not exist), readable by its owner only.
    pub fn create(path: &Path) -> Result<LogKey, AuditError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| AuditError::Key { path: path.to_path_buf(), message: format!("no entropy for a new key: {e}") })?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| AuditError::Key { path: path.to_path_buf(), message: format!("creating {}: {e}", parent.display()) })?;
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| AuditError::Key { path: path.to_path_buf(), message: format!("cannot create the key file: {e}") })?;
        f.write_all(format!("{}\n", hex::encode(seed)).as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| AuditError::Key { path: path.to_path_buf(), message: format!("writing the key: {e}") })?;
        Ok(LogKey { key: SigningKey::from_bytes(&seed) })
    }

    /// Read a key file. One that others can read or write is refused.
    pub fn load(path: &Path) -> Result<LogKey, AuditError> {
        let err = |message: String| AuditError::Key { path: path.to_path_buf(), message };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| err(format!("cannot read the key file: {e}")))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(err(format!("the key file is accessible to others (mode {:o}); run `chmod 600 {}`", mode & 0o777, path.display())));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read the key file: {e}")))?;
        let bytes = hex::decode(text.trim()).map_err(|e| err(format!("not a hex ed25519 seed: {e}")))?;
        let seed: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| err(format!("an ed25519 seed is 32 bytes, this is {}", b.len())))?;
        Ok(LogKey { key: SigningKey::from_bytes(&seed) })
    }

    /// Load the key at `path`, creating it if there is none.
    pub fn load_or_create(path: &Path) -> Result<LogKey, AuditError> {
        if path.exists() {
            LogKey::load(path)
        } else {
            LogKey::create(path)
        }
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    pub(crate) fn sign_head(&self, size: u64, root: &Hash, time_ms: u64) -> SignedTreeHead {
        let signature = self.key.sign(&head_message(size, root, time_ms));
        SignedTreeHead { size, root: hex::encode(root), time_ms, key_id: key_id(&self.key.verifying_key()), signature: hex::encode(signature.to_bytes()) }
    }
}

/// An auditor's copy of the log's public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// From 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<PublicKey, AuditError> {
        let bad = |m: String| AuditError::BadPublicKey(m);
        let bytes = hex::decode(text.trim()).map_err(|e| bad(format!("not hex: {e}")))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| bad(format!("an ed25519 public key is 32 bytes, this is {}", b.len())))?;
        VerifyingKey::from_bytes(&arr).map(PublicKey).map_err(|e| bad(e.to_string()))
    }

    /// 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// First 16 hex digits of the key's sha256: names the key in tree heads.
    pub fn key_id(&self) -> String {
        key_id(&self.0)
    }

    /// Does the head carry a valid signature by this key?
    pub fn verify_head(&self, head: &SignedTreeHead) -> bool {
        let (Ok(root), Ok(sig)) = (decode_hash(&head.root), hex::decode(&head.signature)) else { return false };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig) else { return false };
        self.0.verify(&head_message(head.size, &root, head.time_ms), &sig).is_ok()
    }
}

fn key_id(k: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(k.to_bytes())[..8])
}

fn head_message(size: u64, root: &Hash, time_ms: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNED_PREFIX.len() + 48);
    m.extend_from_slice(SIGNED_PREFIX);
    m.extend_from_slice(&size.to_be_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(&time_ms.to_be_bytes());
    m
}

pub(crate) fn decode_hash(s: &str) -> Result<Hash, String> {
    let b = hex::decode(s).map_err(|e| format!("`{s}` is not hex: {e}"))?;
    b.try_into().map_err(|b: Vec<u8>| format!("a hash is 32 bytes, this is {}", b.len()))
}

/// A signed tree head: the log's size and root at a checkpoint, signed with the log's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    /// Number of entries covered.
    pub size: u64,
    /// Merkle root (hex) of the first `size` entries.
    pub root: String,
    /// Unix milliseconds when signed.
    pub time_ms: u64,
    /// Which key signed (see [`PublicKey::key_id`]).
    pub key_id: String,
    /// ed25519 signature (hex) over `"eigenbox-audit-sth/1\n" ‖ size (u64 BE) ‖ root ‖ time_ms (u64 BE)`.
    pub signature: String,
}
