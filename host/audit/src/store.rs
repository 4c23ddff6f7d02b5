//! The stored layout of the log's entries, for tools that inspect a store (and for the tests
//! that tamper with one). [`AuditLog`](crate::AuditLog) reads and writes it; nothing else needs to.
//!
//! A commit stores its entries as **one sled value**, a *chunk*, under [`chunk_key`]`(first)`
//! where `first` is the sequence number of its first entry (a large commit is split into several
//! chunks, written in the same atomic batch). A chunk is
//!
//! ```text
//! [count: u32 BE] then count × ([len: u32 BE][entry: len bytes])
//! ```
//!
//! and the `i`-th entry is entry `first + i`. An entry is `[k: u8][leaf hash][the hashes of the
//! k subtrees it completes, levels 1..=k][record bytes]`: entry `seq` completes the subtree of
//! level `l` ending at it for every `l <= trailing_ones(seq)`, so every node of the Merkle tree
//! is stored exactly once, next to the entry that completed it. The entry holding `seq` is found
//! with one reverse range scan (the last chunk key `<= chunk_key(seq)`).
//!
//! ```
//! use eigenbox_audit::store::*;
//! let a = entry_value(&[1; 32], &[], b"{\"seq\":0}");
//! let b = entry_value(&[2; 32], &[[3; 32]], b"{\"seq\":1}");
//! let chunk = encode_chunk([a.as_slice(), b.as_slice()])?;
//! let entries = decode_chunk(0, &chunk)?;
//! assert_eq!(entries, vec![a.as_slice(), b.as_slice()]);
//! assert_eq!(split_entry(entries[1]).map(|(h, r)| (h.len(), r)), Some((64, &b"{\"seq\":1}"[..])));
//! assert!(decode_chunk(0, &chunk[..chunk.len() - 1]).is_err()); // truncated: a typed error
//! # Ok::<(), eigenbox_audit::AuditError>(())
//! ```

use crate::merkle::Hash;
use crate::AuditError;

/// The first byte of every chunk key.
pub const CHUNK_PREFIX: u8 = b'c';

/// The fewest bytes an entry takes in a chunk: its length, `k` and the leaf hash.
const MIN_ENTRY: u64 = 4 + 1 + 32;

/// The key of the chunk whose first entry is `first`: `c` then `first` big-endian.
pub fn chunk_key(first: u64) -> [u8; 9] {
    let mut k = [CHUNK_PREFIX; 9];
    k[1..].copy_from_slice(&first.to_be_bytes());
    k
}

/// The first sequence number a chunk key names, if it is one.
pub fn chunk_first(key: &[u8]) -> Option<u64> {
    match key {
        [CHUNK_PREFIX, rest @ ..] => rest.try_into().ok().map(u64::from_be_bytes),
        _ => None,
    }
}

/// An entry's stored bytes: `[k][leaf hash][k node hashes][record]`.
pub fn entry_value(leaf: &Hash, nodes: &[Hash], record: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + 32 * (1 + nodes.len()) + record.len());
    push_entry(&mut v, leaf, nodes, record);
    v
}

/// Append an entry's bytes to `out` (`nodes` has at most 63 hashes: one per level).
pub(crate) fn push_entry(out: &mut Vec<u8>, leaf: &Hash, nodes: &[Hash], record: &[u8]) {
    out.push(nodes.len() as u8);
    out.extend_from_slice(leaf);
    for n in nodes {
        out.extend_from_slice(n);
    }
    out.extend_from_slice(record);
}

/// Split an entry into (its hashes: the leaf then levels 1..=k, its record bytes).
pub fn split_entry(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let k = *v.first()? as usize;
    let end = 1 + 32 * (k + 1);
    if v.len() < end {
        return None;
    }
    Some((&v[1..end], &v[end..]))
}

/// Encode entries (as [`entry_value`] gives them) as one chunk. Each entry's length, and their
/// number, must fit in a `u32`.
pub fn encode_chunk<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, AuditError> {
    let mut out = vec![0u8; 4];
    let mut count = 0u32;
    for e in entries {
        let len = u32::try_from(e.len()).map_err(|_| AuditError::OutOfRange(format!("an entry of {} bytes does not fit in a chunk", e.len())))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
        count = count.checked_add(1).ok_or_else(|| AuditError::OutOfRange("too many entries for one chunk".into()))?;
    }
    out[..4].copy_from_slice(&count.to_be_bytes());
    Ok(out)
}

/// The entries of the chunk stored under [`chunk_key`]`(first)`, in order. A chunk that does
/// not parse exactly (a length past its end, bytes left over, an entry too short to hold its
/// hashes) is [`AuditError::Corrupt`], naming the entries it should hold.
pub fn decode_chunk(first: u64, value: &[u8]) -> Result<Vec<&[u8]>, AuditError> {
    let Some((count, mut rest)) = value.split_first_chunk::<4>() else {
        return Err(AuditError::Corrupt(format!("the chunk of entries from {first} is truncated before its entry count")));
    };
    let count = u32::from_be_bytes(*count) as u64;
    let corrupt = |why: String| {
        let range = match count {
            0 => format!("entries from {first}"),
            _ => format!("entries {first}..={}", first.saturating_add(count - 1)),
        };
        AuditError::Corrupt(format!("the chunk of {range} is corrupt: {why}"))
    };
    if count == 0 {
        return Err(corrupt("it holds no entries".into()));
    }
    // Each entry takes at least 4 + 33 bytes: a count the bytes cannot hold is itself damaged.
    if count > rest.len() as u64 / MIN_ENTRY {
        return Err(AuditError::Corrupt(format!("the chunk of entries from {first} is corrupt: it claims {count} entries, its {} bytes hold at most {}", rest.len(), rest.len() as u64 / MIN_ENTRY)));
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let seq = first.saturating_add(i);
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(corrupt(format!("truncated at entry {seq} (its length prefix is missing)")));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if len > tail.len() {
            return Err(corrupt(format!("entry {seq} claims {len} bytes, {} are left", tail.len())));
        }
        let (entry, tail) = tail.split_at(len);
        if split_entry(entry).is_none() {
            return Err(corrupt(format!("entry {seq} is too short for its hashes")));
        }
        out.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(corrupt(format!("{} bytes follow its last entry", rest.len())));
    }
    Ok(out)
}
