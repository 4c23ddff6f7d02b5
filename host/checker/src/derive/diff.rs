//! The canonical structural diff of two JSON states, as the derived programs compute it in
//! Starlark (`_diff` in the prelude): both sides must produce the same set of entries.
//!
//! Rules, applied from the root: equal values (Starlark `==`: numbers by value, `True != 1`)
//! give nothing; two objects recurse into the keys of both (a key on one side only is an entry
//! with that side's value and the other side absent); two arrays recurse index by index up to
//! the longer length (an index on one side only is an entry likewise); anything else is one
//! entry at that path with both values. The result determines its second argument given the
//! first (apply the entries to `a` to get `b`), which is what makes the DB check sound.

use serde::Serialize;
use serde_json::Value;

/// One step of a path: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum PathElem {
    /// Object key.
    Key(String),
    /// Array index.
    Index(usize),
}

/// One changed leaf: `old` / `new` are `None` where the path is absent on that side.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change {
    /// Where.
    pub path: Vec<PathElem>,
    /// Value in the first state (serialised only when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// Value in the second state (serialised only when present).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// Starlark equality on JSON values: numbers compare by value (`1 == 1.0`), booleans are not
/// numbers, objects ignore key order.
pub(crate) fn star_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(p), Some(q)) = (x.as_i64(), y.as_i64()) {
                return p == q;
            }
            if let (Some(p), Some(q)) = (x.as_u64(), y.as_u64()) {
                return p == q;
            }
            match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => p == q,
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| star_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| star_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The canonical diff `a` → `b` (entries sorted by path).
pub fn state_diff(a: &Value, b: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<PathElem>, &Value, &Value)> = vec![(Vec::new(), a, b)];
    while let Some((path, x, y)) = stack.pop() {
        if star_eq(x, y) {
            continue;
        }
        let child = |e: PathElem| {
            let mut p = path.clone();
            p.push(e);
            p
        };
        match (x, y) {
            (Value::Object(p), Value::Object(q)) => {
                for (k, v) in p {
                    match q.get(k) {
                        Some(w) => stack.push((child(PathElem::Key(k.clone())), v, w)),
                        None => out.push(Change { path: child(PathElem::Key(k.clone())), old: Some(v.clone()), new: None }),
                    }
                }
                for (k, w) in q {
                    if !p.contains_key(k) {
                        out.push(Change { path: child(PathElem::Key(k.clone())), old: None, new: Some(w.clone()) });
                    }
                }
            }
            (Value::Array(p), Value::Array(q)) => {
                for i in 0..p.len().max(q.len()) {
                    match (p.get(i), q.get(i)) {
                        (Some(v), Some(w)) => stack.push((child(PathElem::Index(i)), v, w)),
                        (Some(v), None) => out.push(Change { path: child(PathElem::Index(i)), old: Some(v.clone()), new: None }),
                        (None, Some(w)) => out.push(Change { path: child(PathElem::Index(i)), old: None, new: Some(w.clone()) }),
                        (None, None) => {}
                    }
                }
            }
            _ => out.push(Change { path, old: Some(x.clone()), new: Some(y.clone()) }),
        }
    }
    out.sort_by(|p, q| p.path.cmp(&q.path));
    out
}

/// Applies changes made by [`state_diff`] from `base` (`None` if one does not fit `base`):
/// `apply_changes(a, &state_diff(a, b)) == b` for all JSON values `a`, `b`.
pub fn apply_changes(base: &Value, changes: &[Change]) -> Option<Value> {
    let mut out = base.clone();
    let mut sorted: Vec<&Change> = changes.iter().collect();
    sorted.sort_by(|p, q| p.path.cmp(&q.path));
    // Sets and additions in ascending order (so appended indices arrive in order), then
    // removals in descending order (array removals are always a tail).
    let (removals, writes): (Vec<&Change>, Vec<&Change>) = sorted.into_iter().partition(|c| c.new.is_none());
    for c in writes {
        let new = c.new.clone()?;
        let Some((last, parent_path)) = c.path.split_last() else {
            out = new;
            continue;
        };
        let parent = walk(&mut out, parent_path)?;
        match (parent, last) {
            (Value::Object(m), PathElem::Key(k)) => {
                m.insert(k.clone(), new);
            }
            (Value::Array(a), PathElem::Index(i)) if *i < a.len() => a[*i] = new,
            (Value::Array(a), PathElem::Index(i)) if *i == a.len() => a.push(new),
            _ => return None,
        }
    }
    for c in removals.into_iter().rev() {
        let (last, parent_path) = c.path.split_last()?;
        let parent = walk(&mut out, parent_path)?;
        match (parent, last) {
            (Value::Object(m), PathElem::Key(k)) => {
                m.remove(k)?;
            }
            (Value::Array(a), PathElem::Index(i)) if *i + 1 == a.len() => {
                a.pop();
            }
            _ => return None,
        }
    }
    Some(out)
}

fn walk<'a>(mut v: &'a mut Value, path: &[PathElem]) -> Option<&'a mut Value> {
    for e in path {
        v = match (v, e) {
            (Value::Object(m), PathElem::Key(k)) => m.get_mut(k)?,
            (Value::Array(a), PathElem::Index(i)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_rules() {
        let a = json!({"u": {"x": 1, "l": [1, 2], "gone": true}, "same": [1.0]});
        let b = json!({"u": {"x": 2, "l": [1, 2, 3], "new": null}, "same": [1.0]});
        let d = state_diff(&a, &b);
        let paths: Vec<_> = d.iter().map(|c| serde_json::to_string(&c.path).unwrap_or_default()).collect();
        assert_eq!(paths, vec![r#"["u","gone"]"#, r#"["u","l",2]"#, r#"["u","new"]"#, r#"["u","x"]"#]);
        assert!(state_diff(&json!(true), &json!(1)).len() == 1);
        assert_eq!(apply_changes(&a, &d), Some(b.clone()));
        let shrink = state_diff(&b, &a);
        assert_eq!(apply_changes(&b, &shrink), Some(a.clone()));
        let c = json!({"l": [1, 2, 3, 4], "m": {"k": [5]}});
        let e = json!({"l": [1], "m": {}});
        assert_eq!(apply_changes(&c, &state_diff(&c, &e)), Some(e.clone()));
    }
}
