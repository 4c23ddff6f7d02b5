//! The log itself: entries (in one chunk per commit, see [`crate::store`]), Merkle nodes and
//! signed heads in one sled tree.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::keys::{decode_hash, LogKey, SignedTreeHead};
use crate::merkle::{self, empty_root, leaf_hash, node_hash, Hash, Subtrees};
use crate::record::Record;
use crate::store::{chunk_first, chunk_key, decode_chunk, push_entry, split_entry, CHUNK_PREFIX};
use crate::AuditError;

/// The sled tree the log lives in (inside whatever database it is given).
pub const TREE: &str = "eigenbox.audit";
/// The format marker. Stores of another format are refused ([`AuditError::Format`]):
/// `eigenbox-audit/1` kept one sled key per entry, `/2` one chunk per commit ([`crate::store`]).
pub const FORMAT: &str = "eigenbox-audit/2";

const META_FORMAT: &[u8] = b"m:format";
const META_SIZE: &[u8] = b"m:size";

/// A commit's entries go in chunks of at most this many entries...
const CHUNK_ENTRIES: u32 = 256;
/// ...and a chunk is closed once it holds this many bytes, so one lookup never reads a huge value.
const CHUNK_BYTES: usize = 256 << 10;

/// A chunk's buffer: room for its count, then space for a typical commit.
fn new_chunk_buf() -> Vec<u8> {
    let mut buf = Vec::with_capacity(64 << 10);
    buf.extend_from_slice(&[0; 4]);
    buf
}

fn head_key(size: u64) -> [u8; 9] {
    let mut k = [b'h'; 9];
    k[1..].copy_from_slice(&size.to_be_bytes());
    k
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How the log batches and signs.
#[derive(Debug, Clone, Copy)]
pub struct AuditConfig {
    /// Keep the arguments' hash but not their text.
    pub redact_args: bool,
    /// Commit by itself once this many records are buffered.
    pub batch: usize,
    /// Sign a tree head at a commit once this many entries were added since the last head
    /// (1: at every commit).
    pub head_every: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { redact_args: false, batch: 256, head_every: 1 }
    }
}

struct State {
    /// Entries appended (committed or not).
    size: u64,
    /// Entries durable on disk.
    committed: u64,
    /// Roots of the perfect subtrees on the right edge: (level, hash), largest first.
    frontier: Vec<(u32, Hash)>,
    /// Chunks not yet committed, in order.
    pending: Vec<PendingChunk>,
    /// Records among them.
    pending_records: usize,
    /// Size at the last signed head.
    last_head: u64,
    /// Whether any head was signed (an empty log may have one at size 0).
    has_head: bool,
}

/// A chunk being filled: `[count][len][entry]...`, its count written at commit.
struct PendingChunk {
    first: u64,
    count: u32,
    buf: Vec<u8>,
}

/// The append-only, tamper-evident log. Safe to share between threads.
///
/// [`AuditLog::append`] buffers a record and returns its sequence number; it is *acknowledged*
/// once [`AuditLog::commit`] (or an automatic commit when the batch fills) has returned: then it
/// is on disk (sled flushed) and, with a key, covered by a signed tree head. A crash loses at
/// most the unacknowledged records, never part of a commit.
pub struct AuditLog {
    db: sled::Db,
    tree: sled::Tree,
    key: Option<LogKey>,
    config: AuditConfig,
    state: Mutex<State>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").field("size", &self.size()).field("key", &self.key).finish_non_exhaustive()
    }
}

/// Find the stored entry `seq` and hand its bytes to `f`: `None` when no chunk holds it.
fn with_entry<T>(tree: &sled::Tree, seq: u64, f: impl FnOnce(&[u8]) -> T) -> Result<Option<T>, AuditError> {
    let Some(kv) = tree.range(chunk_key(0)..=chunk_key(seq)).next_back() else { return Ok(None) };
    let (k, v) = kv?;
    let first = chunk_first(&k).ok_or_else(|| AuditError::Corrupt("a chunk key is malformed".into()))?;
    let entries = decode_chunk(first, &v)?;
    Ok(usize::try_from(seq - first).ok().and_then(|i| entries.get(i)).map(|e| f(e)))
}

struct Stored<'a>(&'a sled::Tree);

impl Stored<'_> {
    /// The stored hash of the perfect subtree of `level` whose last leaf is `last`.
    fn node(&self, level: u32, last: u64) -> Result<Hash, AuditError> {
        let at = 32 * level as usize;
        let node = with_entry(self.0, last, |e| split_entry(e).and_then(|(hashes, _)| hashes.get(at..at + 32)).and_then(|h| Hash::try_from(h).ok()))?;
        let node = node.ok_or_else(|| AuditError::Corrupt(format!("entry {last} is missing")))?;
        node.ok_or_else(|| AuditError::Corrupt(format!("entry {last} lacks its level-{level} node")))
    }
}

impl Subtrees for Stored<'_> {
    type Error = AuditError;
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, AuditError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), hi - 1);
        }
        let k = merkle::split(n);
        Ok(node_hash(&self.subtree(lo, lo + k)?, &self.subtree(lo + k, hi)?))
    }
}

impl AuditLog {
    /// Open the log inside `db` (creating it if absent). `key` signs tree heads; without one
    /// the log can be read, proved and exported, but commits sign nothing.
    pub fn open(db: &sled::Db, key: Option<LogKey>, config: AuditConfig) -> Result<AuditLog, AuditError> {
        let tree = db.open_tree(TREE)?;
        match tree.get(META_FORMAT)? {
            Some(v) if v.as_ref() == FORMAT.as_bytes() => {}
            Some(v) => return Err(AuditError::Format { found: String::from_utf8_lossy(&v).into_owned(), expected: FORMAT.into() }),
            None if tree.is_empty() => {
                tree.insert(META_FORMAT, FORMAT.as_bytes())?;
                tree.insert(META_SIZE, &0u64.to_be_bytes())?;
                db.flush()?;
            }
            None => return Err(AuditError::Corrupt("the audit tree has data but no format marker".into())),
        }
        let size = match tree.get(META_SIZE)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| AuditError::Corrupt("bad size record".into()))?),
            None => 0,
        };
        // The frontier: one perfect subtree per set bit of `size`, largest first.
        let mut frontier = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if size & (1u64 << level) != 0 {
                let h = Stored(&tree).subtree(start, start + (1u64 << level))?;
                frontier.push((level, h));
                start += 1u64 << level;
            }
        }
        let last_key = tree.scan_prefix(b"h").keys().next_back().transpose()?;
        let has_head = last_key.is_some();
        let last_head = last_key.map(|k| u64::from_be_bytes(k.get(1..9).and_then(|b| b.try_into().ok()).unwrap_or([0; 8]))).unwrap_or(0);
        Ok(AuditLog { db: db.clone(), tree, key, config, state: Mutex::new(State { size, committed: size, frontier, pending: Vec::new(), pending_records: 0, last_head, has_head }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves only buffered, unacknowledged writes behind.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Buffer a record; returns its sequence number. The log sets `seq`, sets `time_ms` when it
    /// is 0, and drops the argument text under redaction. Commits by itself when the batch is full.
    pub fn append(&self, mut record: Record) -> Result<u64, AuditError> {
        if record.time_ms == 0 {
            record.time_ms = now_ms();
        }
        if self.config.redact_args {
            record.args = None;
        }
        let full = {
            let mut st = self.lock();
            let seq = st.size;
            record.seq = seq;
            let bytes = record.canonical();
            let leaf = leaf_hash(&bytes);
            let levels = seq.trailing_ones();
            let len = u32::try_from(1 + 32 * (1 + levels as usize) + bytes.len()).map_err(|_| AuditError::OutOfRange(format!("a record of {} bytes is too large to store", bytes.len())))?;
            if st.frontier.len() < levels as usize {
                return Err(AuditError::Corrupt("frontier out of step with size".into()));
            }
            let mut h = leaf;
            let mut nodes = [[0u8; 32]; 64];
            for (level, node) in nodes.iter_mut().enumerate().take(levels as usize) {
                let Some((_, left)) = st.frontier.pop() else { return Err(AuditError::Corrupt(format!("frontier out of step with size at level {level}"))) };
                h = node_hash(&left, &h);
                *node = h;
            }
            st.frontier.push((levels, h));
            let open = st.pending.last().is_some_and(|c| c.count < CHUNK_ENTRIES && c.buf.len() < CHUNK_BYTES);
            if !open {
                st.pending.push(PendingChunk { first: seq, count: 0, buf: new_chunk_buf() });
            }
            if let Some(chunk) = st.pending.last_mut() {
                chunk.buf.extend_from_slice(&len.to_be_bytes());
                push_entry(&mut chunk.buf, &leaf, &nodes[..levels as usize], &bytes);
                chunk.count += 1;
            }
            st.size += 1;
            st.pending_records += 1;
            st.pending_records >= self.config.batch.max(1)
        };
        let seq = record.seq;
        if full {
            self.commit()?;
        }
        Ok(seq)
    }

    /// Write everything buffered and flush it to disk; sign a head if due. Returns the number
    /// of acknowledged (durable) entries.
    pub fn commit(&self) -> Result<u64, AuditError> {
        self.commit_inner(false).map(|(n, _)| n)
    }

    /// Commit and sign a head at the current size (needs the key).
    pub fn checkpoint(&self) -> Result<SignedTreeHead, AuditError> {
        if self.key.is_none() {
            return Err(AuditError::NoKey);
        }
        match self.commit_inner(true)? {
            (_, Some(h)) => Ok(h),
            (_, None) => self.latest_head()?.ok_or(AuditError::NoKey),
        }
    }

    fn commit_inner(&self, force_head: bool) -> Result<(u64, Option<SignedTreeHead>), AuditError> {
        let mut st = self.lock();
        let due = (st.size > st.last_head && (force_head || st.size - st.last_head >= self.config.head_every.max(1))) || (force_head && !st.has_head);
        if st.pending.is_empty() && !due {
            return Ok((st.committed, None));
        }
        let mut batch = sled::Batch::default();
        for c in st.pending.iter_mut() {
            c.buf[..4].copy_from_slice(&c.count.to_be_bytes());
            batch.insert(&chunk_key(c.first), c.buf.as_slice());
        }
        batch.insert(META_SIZE, &st.size.to_be_bytes());
        let head = match (&self.key, due) {
            (Some(key), true) => {
                let root = root_of(&st.frontier);
                let head = key.sign_head(st.size, &root, now_ms());
                batch.insert(&head_key(st.size), serde_json::to_vec(&head).map_err(|e| AuditError::Corrupt(e.to_string()))?);
                Some(head)
            }
            _ => None,
        };
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        st.pending.clear();
        st.pending_records = 0;
        st.committed = st.size;
        if head.is_some() {
            st.last_head = st.size;
            st.has_head = true;
        }
        Ok((st.committed, head))
    }

    /// Entries appended, acknowledged or not.
    pub fn size(&self) -> u64 {
        self.lock().size
    }

    /// Acknowledged (durable) entries.
    pub fn committed(&self) -> u64 {
        self.lock().committed
    }

    /// The current root over every appended entry.
    pub fn root(&self) -> Hash {
        root_of(&self.lock().frontier)
    }

    /// The root of the first `size` committed entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, AuditError> {
        self.check_size(size)?;
        if size == 0 {
            return Ok(empty_root());
        }
        Stored(&self.tree).subtree(0, size)
    }

    fn check_size(&self, size: u64) -> Result<(), AuditError> {
        let committed = self.committed();
        if size > committed {
            return Err(AuditError::OutOfRange(format!("size {size} is beyond the {committed} committed entries")));
        }
        Ok(())
    }

    /// A committed entry.
    pub fn get(&self, seq: u64) -> Result<Option<Record>, AuditError> {
        if seq >= self.committed() {
            return Ok(None);
        }
        match self.raw(seq)? {
            Some(v) => serde_json::from_slice(&v).map(Some).map_err(|e| AuditError::Corrupt(format!("entry {seq}: {e}"))),
            None => Err(AuditError::Corrupt(format!("entry {seq} is missing"))),
        }
    }

    /// The stored canonical bytes of a committed entry.
    pub fn raw(&self, seq: u64) -> Result<Option<Vec<u8>>, AuditError> {
        if seq >= self.committed() {
            return Ok(None);
        }
        // decode_chunk has checked that every entry holds its hashes.
        with_entry(&self.tree, seq, |e| split_entry(e).map(|(_, r)| r.to_vec()).unwrap_or_default())
    }

    /// Committed entries from `from` on, in order.
    pub fn iter(&self, from: u64) -> impl Iterator<Item = Result<Record, AuditError>> + '_ {
        let end = self.committed();
        // Start at the chunk holding `from`, then take chunks in order.
        let start = match self.tree.range(chunk_key(0)..=chunk_key(from)).next_back() {
            Some(Ok((k, _))) => chunk_first(&k).unwrap_or(0),
            _ => 0,
        };
        let chunks = if from < end { Some(self.tree.range(chunk_key(start)..chunk_key(end))) } else { None };
        chunks.into_iter().flatten().flat_map(move |kv| -> Vec<Result<Record, AuditError>> {
            let decoded = (|| {
                let (k, v) = kv?;
                let first = chunk_first(&k).ok_or_else(|| AuditError::Corrupt("a chunk key is malformed".into()))?;
                let mut out = Vec::new();
                for (seq, e) in (first..).zip(decode_chunk(first, &v)?) {
                    if seq < from || seq >= end {
                        continue;
                    }
                    let rec = split_entry(e).map(|(_, r)| r).unwrap_or_default();
                    out.push(serde_json::from_slice(rec).map_err(|e| AuditError::Corrupt(format!("entry {seq}: {e}"))));
                }
                Ok::<_, AuditError>(out)
            })();
            decoded.unwrap_or_else(|e| vec![Err(e)])
        })
    }

    /// Every signed head, by size.
    pub fn heads(&self) -> Result<Vec<SignedTreeHead>, AuditError> {
        self.tree
            .scan_prefix(b"h")
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice(&v).map_err(|e| AuditError::Corrupt(format!("head: {e}")))
            })
            .collect()
    }

    /// The newest signed head.
    pub fn latest_head(&self) -> Result<Option<SignedTreeHead>, AuditError> {
        match self.tree.scan_prefix(b"h").values().next_back() {
            Some(v) => serde_json::from_slice(&v?).map(Some).map_err(|e| AuditError::Corrupt(format!("head: {e}"))),
            None => Ok(None),
        }
    }

    /// The public key, when the log holds its signing key.
    pub fn public_key(&self) -> Option<crate::PublicKey> {
        self.key.as_ref().map(LogKey::public)
    }

    /// Audit path of entry `seq` in the tree of the first `size` committed entries.
    pub fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_size(size)?;
        if seq >= size {
            return Err(AuditError::OutOfRange(format!("entry {seq} is not among the first {size}")));
        }
        merkle::inclusion_proof(&Stored(&self.tree), seq, size)
    }

    /// Proof that the first `old` entries are a prefix of the first `new` ones.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        self.check_size(new)?;
        if old > new {
            return Err(AuditError::OutOfRange(format!("old size {old} is larger than new size {new}")));
        }
        merkle::consistency_proof(&Stored(&self.tree), old, new)
    }

    /// Recompute every leaf and node from the stored entries and check every stored head's
    /// root (and signature, given a key): the store's own integrity check.
    pub fn check(&self, key: Option<&crate::PublicKey>) -> Result<u64, AuditError> {
        let n = self.committed();
        let mut t = merkle::MemoryTree::new();
        let mut seq = 0u64;
        for kv in self.tree.scan_prefix([CHUNK_PREFIX]) {
            let (k, value) = kv?;
            let first = chunk_first(&k).ok_or_else(|| AuditError::Tampered { seq: Some(seq), message: "a chunk key is malformed".into() })?;
            if first > seq && seq < n {
                return Err(AuditError::Tampered { seq: Some(seq), message: "entry is missing".into() });
            }
            if first < seq {
                return Err(AuditError::Tampered { seq: Some(first), message: format!("a chunk starts at entry {first}, inside the entries before {seq}") });
            }
            for entry in decode_chunk(first, &value)? {
                let tampered = |message: String| AuditError::Tampered { seq: Some(seq), message };
                if seq >= n {
                    return Err(tampered(format!("entry is stored past the {n} committed entries")));
                }
                let Some((hashes, raw)) = split_entry(entry) else { return Err(tampered("entry is malformed".into())) };
                let rec: Record = serde_json::from_slice(raw).map_err(|e| tampered(format!("entry does not decode: {e}")))?;
                if rec.seq != seq || rec.canonical() != raw {
                    return Err(tampered("entry is not in canonical form or carries another seq".into()));
                }
                let h = leaf_hash(raw);
                t.push(h);
                // The stored hashes must be the recomputed ones: the leaf, and the subtrees it completes.
                let mut expect = vec![h];
                for level in 1..=(seq.trailing_ones()) {
                    let lo = seq + 1 - (1u64 << level);
                    expect.push(match t.subtree(lo, seq + 1) {
                        Ok(x) => x,
                        Err(never) => match never {},
                    });
                }
                if hashes.len() != 32 * expect.len() || hashes.chunks(32).zip(&expect).any(|(a, b)| a != b) {
                    return Err(tampered("entry does not match its stored hashes".into()));
                }
                seq += 1;
            }
        }
        if seq < n {
            return Err(AuditError::Tampered { seq: Some(seq), message: format!("entry is missing: the log has {n} committed entries, the store holds {seq}") });
        }
        for head in self.heads()? {
            if head.size > n {
                return Err(AuditError::Tampered { seq: Some(n), message: format!("a signed head covers {} entries, the log has {n}", head.size) });
            }
            let root = decode_hash(&head.root).map_err(|m| AuditError::Tampered { seq: None, message: m })?;
            if root != t.root(head.size) {
                return Err(AuditError::Tampered { seq: None, message: format!("the signed head at size {} does not match the entries", head.size) });
            }
            if let Some(k) = key {
                if !k.verify_head(&head) {
                    return Err(AuditError::Tampered { seq: None, message: format!("the head at size {} has a bad signature", head.size) });
                }
            }
        }
        Ok(n)
    }
}

fn root_of(frontier: &[(u32, Hash)]) -> Hash {
    let mut it = frontier.iter().rev();
    let Some((_, last)) = it.next() else { return empty_root() };
    let mut acc = *last;
    for (_, left) in it {
        acc = node_hash(left, &acc);
    }
    acc
}
