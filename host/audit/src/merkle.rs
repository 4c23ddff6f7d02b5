//! RFC 6962 Merkle tree hashing, audit paths and consistency proofs (§2.1), and their
//! verification as RFC 9162 §2.1.3.2 / §2.1.4.2 write it.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`: the hash of a leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly smaller than `n` (`n >= 2`).
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// Something that can give the Merkle tree hash of any range of leaves `[lo, hi)`.
pub trait Subtrees {
    /// The error reading a node.
    type Error;
    /// `MTH(D[lo:hi])`, `lo < hi`.
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error>;
}

/// The audit path of leaf `m` in the tree of the first `n` leaves (RFC 6962 §2.1.1).
pub fn inclusion_proof<T: Subtrees>(t: &T, m: u64, n: u64) -> Result<Vec<Hash>, T::Error> {
    let mut out = Vec::new();
    path(t, m, 0, n, &mut out)?;
    Ok(out)
}

fn path<T: Subtrees>(t: &T, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) -> Result<(), T::Error> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m - lo < k {
        path(t, m, lo, lo + k, out)?;
        out.push(t.subtree(lo + k, hi)?);
    } else {
        path(t, m, lo + k, hi, out)?;
        out.push(t.subtree(lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof between the trees of the first `m` and first `n` leaves
/// (RFC 6962 §2.1.2), `0 < m <= n`.
pub fn consistency_proof<T: Subtrees>(t: &T, m: u64, n: u64) -> Result<Vec<Hash>, T::Error> {
    let mut out = Vec::new();
    if m > 0 && m < n {
        subproof(t, m, 0, n, true, &mut out)?;
    }
    Ok(out)
}

fn subproof<T: Subtrees>(t: &T, m: u64, lo: u64, hi: u64, complete: bool, out: &mut Vec<Hash>) -> Result<(), T::Error> {
    let n = hi - lo;
    if m == n {
        if !complete {
            out.push(t.subtree(lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(t, m, lo, lo + k, complete, out)?;
        out.push(t.subtree(lo + k, hi)?);
    } else {
        subproof(t, m - k, lo + k, hi, false, out)?;
        out.push(t.subtree(lo, lo + k)?);
    }
    Ok(())
}

/// Check an audit path: does leaf `index` with hash `leaf` sit in the tree of `size` leaves
/// whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &r == root
}

/// Check a consistency proof: is the tree of `first` leaves with root `first_root` a prefix of
/// the tree of `second` leaves with root `second_root`?
pub fn verify_consistency(first: u64, second: u64, first_root: &Hash, second_root: &Hash, proof: &[Hash]) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        return proof.is_empty() && first_root == &empty_root();
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((head, rest)) = path.split_first() else { return false };
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*head, *head);
    for c in rest {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && &fr == first_root && &sr == second_root
}

/// A whole tree in memory, built from leaf hashes (what an offline verifier rebuilds).
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    /// `levels[0]` are the leaf hashes; `levels[l][i]` the root of leaves `[i·2^l, (i+1)·2^l)`.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> MemoryTree {
        MemoryTree { levels: vec![Vec::new()] }
    }

    /// Append a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let l = &self.levels[level];
            let h = node_hash(&l[l.len() - 2], &l[l.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map(|l| l.len() as u64).unwrap_or(0)
    }

    /// Whether there are no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root of the first `n` leaves.
    pub fn root(&self, n: u64) -> Hash {
        if n == 0 {
            return empty_root();
        }
        match self.subtree(0, n) {
            Ok(h) => h,
            Err(never) => match never {},
        }
    }
}

impl Subtrees for MemoryTree {
    type Error = std::convert::Infallible;
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            if let Some(h) = self.levels.get(level).and_then(|l| l.get((lo >> level) as usize)) {
                return Ok(*h);
            }
        }
        if n == 1 {
            // Unreachable for lo < len; an out-of-range read hashes as empty rather than panic.
            return Ok(empty_root());
        }
        let k = split(n);
        Ok(node_hash(&self.subtree(lo, lo + k)?, &self.subtree(lo + k, hi)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MTH by the RFC's recursive definition, straight from the leaves.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn tree(n: u64) -> (Vec<Hash>, MemoryTree) {
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(format!("leaf {i}").as_bytes())).collect();
        let mut t = MemoryTree::new();
        leaves.iter().for_each(|l| t.push(*l));
        (leaves, t)
    }

    #[test]
    fn roots_match_the_definition() {
        let (leaves, t) = tree(70);
        for n in 0..=70u64 {
            assert_eq!(t.root(n), mth(&leaves[..n as usize]), "n={n}");
        }
        // The RFC 6962 empty-tree hash.
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }

    #[test]
    fn every_inclusion_proof_verifies_and_tampering_fails() {
        let (leaves, t) = tree(33);
        for n in 1..=33u64 {
            let root = t.root(n);
            for m in 0..n {
                let p = inclusion_proof(&t, m, n).unwrap();
                assert!(verify_inclusion(m, n, &leaves[m as usize], &p, &root), "m={m} n={n}");
                let other = leaves[((m + 1) % 33) as usize];
                if n > 1 {
                    assert!(!verify_inclusion(m, n, &other, &p, &root), "wrong leaf m={m} n={n}");
                    assert!(!verify_inclusion((m + 1) % n, n, &leaves[m as usize], &p, &root) || p.is_empty(), "wrong index m={m} n={n}");
                }
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = leaf_hash(first);
                    assert!(!verify_inclusion(m, n, &leaves[m as usize], &bad, &root));
                }
            }
            assert!(!verify_inclusion(n, n, &leaves[0], &[], &root), "index past the end");
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let (_, t) = tree(33);
        for n in 1..=33u64 {
            for m in 1..=n {
                let p = consistency_proof(&t, m, n).unwrap();
                assert!(verify_consistency(m, n, &t.root(m), &t.root(n), &p), "m={m} n={n}");
                if m < n {
                    assert!(!verify_consistency(m, n, &t.root(m), &t.root(n - 1), &p) || m == n - 1 && p.is_empty(), "wrong new root m={m} n={n}");
                    let fake_old = leaf_hash(b"not the old root");
                    assert!(!verify_consistency(m, n, &fake_old, &t.root(n), &p), "wrong old root m={m} n={n}");
                    if !p.is_empty() {
                        let mut bad = p.clone();
                        let last = bad.len() - 1;
                        bad[last] = leaf_hash(&bad[last]);
                        assert!(!verify_consistency(m, n, &t.root(m), &t.root(n), &bad), "tampered proof m={m} n={n}");
                    }
                }
            }
        }
    }

    #[test]
    fn rfc6962_proof_shapes() {
        // RFC 6962 §2.1.3's 7-leaf example: the audit path of d0 is [b, h, l], of d3 is [c, g, l],
        // of d4 is [f, j, k], of d6 is [i, k]; consistency 3→7 is [c, d, g, l], 4→7 is [l],
        // 6→7 is [i, j, k].
        let (leaves, t) = tree(7);
        let h = |lo: u64, hi: u64| t.subtree(lo, hi).unwrap();
        let l = leaves.clone();
        assert_eq!(inclusion_proof(&t, 0, 7).unwrap(), vec![l[1], h(2, 4), h(4, 7)]);
        assert_eq!(inclusion_proof(&t, 3, 7).unwrap(), vec![l[2], h(0, 2), h(4, 7)]);
        assert_eq!(inclusion_proof(&t, 4, 7).unwrap(), vec![l[5], l[6], h(0, 4)]);
        assert_eq!(inclusion_proof(&t, 6, 7).unwrap(), vec![h(4, 6), h(0, 4)]);
        assert_eq!(consistency_proof(&t, 3, 7).unwrap(), vec![l[2], l[3], h(0, 2), h(4, 7)]);
        assert_eq!(consistency_proof(&t, 4, 7).unwrap(), vec![h(4, 7)]);
        assert_eq!(consistency_proof(&t, 6, 7).unwrap(), vec![h(4, 6), l[6], h(0, 4)]);
    }
}
