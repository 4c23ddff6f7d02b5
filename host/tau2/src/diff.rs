//! Readable diffs for conformance failures.

/// Describes where two strings first differ: character index, byte offset, and a snippet of
/// each side around it (up to 20 characters before, the rest from the difference on inside
/// `⟨…⟩`, escaped like Rust's `escape_debug`). Returns `"identical"` when equal.
pub fn string_diff(expected: &str, actual: &str) -> String {
    if expected == actual {
        return "identical".to_string();
    }
    let mut char_idx = 0usize;
    let mut byte_idx = 0usize;
    let mut e = expected.chars();
    let mut a = actual.chars();
    loop {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => {
                char_idx += 1;
                byte_idx += x.len_utf8();
            }
            _ => break,
        }
    }
    let snip = |s: &str| -> String {
        let start = s[..byte_idx.min(s.len())].char_indices().rev().nth(19).map(|(i, _)| i).unwrap_or(0);
        let tail: String = s[byte_idx.min(s.len())..].chars().take(40).collect();
        let head = &s[start..byte_idx.min(s.len())];
        let more = s[byte_idx.min(s.len())..].chars().count() > 40;
        format!(
            "{}{}⟨{}⟩{}",
            if start > 0 { "…" } else { "" },
            head.escape_debug(),
            tail.escape_debug(),
            if more { "…" } else { "" }
        )
    };
    format!(
        "first difference at char {char_idx} (byte {byte_idx}; lengths {} vs {}): expected {} / actual {}",
        expected.chars().count(),
        actual.chars().count(),
        snip(expected),
        snip(actual)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_difference() {
        let d = string_diff("{\"a\": 1}", "{\"a\": 2}");
        assert!(d.contains("char 6"), "{d}");
        assert_eq!(string_diff("x", "x"), "identical");
        let d = string_diff("abc", "abcd");
        assert!(d.contains("char 3") && d.contains("lengths 3 vs 4"), "{d}");
        let d = string_diff("héllo wörld", "héllo world");
        assert!(d.contains("char 7"), "{d}");
    }
}
