//! [`Table`]: a DB table (`Dict[str, Model]` in a τ²-style pydantic DB) built for the three
//! things a domain runtime does to it all the time: fork it, hash it, and change a few rows.
//!
//! - **Fork in O(rows) pointer copies.** Rows and keys are reference-counted, rows copied on
//!   first write (copy-on-write handles that never write to a frozen image, `crate::shared`), so cloning a table (what [`crate::Runtime::reset`] does
//!   with the pristine initial state, and what writing a row that holds a nested table does to
//!   that table) copies no row data and allocates no key strings. Keys read as `&str`.
//! - **Hash without re-rendering.** Each row caches its `"key": value` text as the sorted
//!   Python JSON of a DB hash renders it, shared by every fork that shares the row; a write
//!   through [`Table::get_mut`] or [`Table::insert`] gives the writer a fresh row without
//!   text. A DB hash after a few writes re-renders a few rows and copies the rest. A table
//!   nested in another table's row is rendered but not cached (the outer row's text holds
//!   it), and a DB's whole text is counted before it is written, so it is allocated once:
//!   what a render leaves in linear memory is part of every frozen image and slot reset.
//! - **Python `dict` semantics otherwise:** insertion order (what responses and non-sorted
//!   dumps show), a re-inserted key keeps its position.
//!
//! Reads go through [`Table::get`], indexing, [`Table::iter`], [`Table::values`]...; there is
//! deliberately no `DerefMut` to the underlying map, so every write is seen.
//!
//! ```
//! use eigenbox_sdk::Table;
//! let mut t: Table<u32> = Table::new();
//! t.insert("b".into(), 2);
//! t.insert("a".into(), 1);
//! let fork = t.clone(); // shares the rows
//! *t.get_mut("a").unwrap() += 10;
//! assert_eq!((t["a"], fork["a"]), (11, 1));
//! assert_eq!(t.keys().collect::<Vec<_>>(), ["b", "a"]); // insertion order
//! assert_eq!(eigenbox_sdk::pyjson::to_json_sorted(&t).unwrap(), r#"{"a": 11, "b": 2}"#);
//! assert_eq!(eigenbox_sdk::pyjson::to_json(&t).unwrap(), r#"{"b": 2, "a": 11}"#);
//! ```

use std::cell::{Cell, OnceCell};
use std::fmt;

use crate::shared::{Shared, SharedStr};

use eigenbox_pyjson::{JsonWriter, RawJson};
use indexmap::IndexMap;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The rows' index hasher: FxHash (`rustc-hash`), fixed and several times cheaper than SipHash
/// on short keys. The hasher only places keys in the index; iteration order is insertion order
/// whatever it is.
type Fixed = rustc_hash::FxBuildHasher;

/// One row: the value and its cached texts, shared by every fork until one writes it.
struct Row<V> {
    val: V,
    /// `"key": value` as a sorted render writes it; empty until rendered.
    text: OnceCell<Box<[u8]>>,
    /// The row as a tool result (`json.dumps(row, default=str)`), for tables that keep it
    /// ([`Table`]'s `RESPONSES`); empty until rendered, `None` if the row cannot be rendered.
    resp: OnceCell<Option<Box<str>>>,
}

impl<V: Clone> Clone for Row<V> {
    /// A copy for a writer (a copy-on-write row): the texts are about to be stale, so they are
    /// not copied.
    fn clone(&self) -> Self {
        Row { val: self.val.clone(), text: OnceCell::new(), resp: OnceCell::new() }
    }
}

type Slot<V> = Shared<Row<V>>;

fn slot<V>(val: V) -> Slot<V> {
    Shared::new(Row { val, text: OnceCell::new(), resp: OnceCell::new() })
}

/// The row behind `s`, copied first if a fork shares it, with its texts dropped.
fn write<V: Clone>(s: &mut Slot<V>) -> &mut V {
    let row = Shared::make_mut(s);
    row.text = OnceCell::new();
    row.resp = OnceCell::new();
    &mut row.val
}

/// A row looked up with [`Table::get_cached`]: the row and its text as a tool result.
pub struct Cached<'a, V> {
    /// The row.
    pub row: &'a V,
    /// `json.dumps(row, default=str)` as a tool returning the row renders it (`None` where the
    /// row cannot be rendered; rendering the row then reports why).
    pub text: Option<&'a str>,
}

impl<V> Clone for Cached<'_, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Cached<'_, V> {}

fn take<V: Clone>(s: Slot<V>) -> V {
    Shared::into_value(s).val
}

/// An insertion-ordered `String`-keyed table with copy-on-write rows and cached hash text.
/// See the [module docs](self).
///
/// `RESPONSES = true` (`Table<Row, true>`) also keeps each row's text as a tool result
/// ([`Table::get_cached`]), rendered with its hash text (so a state frozen after a DB hash
/// carries it) or on first use: a tool that returns a whole row unchanged (τ²'s
/// `get_reservation_details`) then copies text instead of rendering the row.
pub struct Table<V, const RESPONSES: bool = false> {
    /// Keys are shared (reference-counted strings), so copying a table (a reset, or the first write to a row
    /// holding a nested table) copies pointers, not key strings.
    map: IndexMap<SharedStr, Slot<V>, Fixed>,
    /// Row indices in key order (Python sorts `str` by code point = UTF-8 byte order).
    /// (A `OnceCell`, not a `RefCell`: reading it writes nothing, so hashing a frozen state does
    /// not dirty every table's page.)
    sorted: OnceCell<Shared<Box<[usize]>>>,
}

impl<V, const R: bool> Clone for Table<V, R> {
    fn clone(&self) -> Self {
        Table { map: self.map.clone(), sorted: self.sorted.clone() }
    }
}

impl<V, const R: bool> Default for Table<V, R> {
    fn default() -> Self {
        Table { map: IndexMap::default(), sorted: OnceCell::new() }
    }
}

impl<V: fmt::Debug, const R: bool> fmt::Debug for Table<V, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: PartialEq, const R: bool> PartialEq for Table<V, R> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl<V, const R: bool> Table<V, R> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.map.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Whether `key` is a row.
    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }
    /// The row at `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key).map(|s| &s.val)
    }
    /// The key and row at `key`.
    pub fn get_key_value(&self, key: &str) -> Option<(&str, &V)> {
        self.map.get_key_value(key).map(|(k, s)| (&**k, &s.val))
    }
    /// Position (insertion order) of `key`.
    pub fn get_index_of(&self, key: &str) -> Option<usize> {
        self.map.get_index_of(key)
    }
    /// Key and row at position `i` (insertion order).
    pub fn get_index(&self, i: usize) -> Option<(&str, &V)> {
        self.map.get_index(i).map(|(k, s)| (&**k, &s.val))
    }
    /// Rows in insertion order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, &V)> + ExactSizeIterator + '_ {
        self.map.iter().map(|(k, s)| (&**k, &s.val))
    }
    /// Keys in insertion order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        self.map.keys().map(|k| &**k)
    }
    /// Rows in insertion order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator + '_ {
        self.map.values().map(|s| &s.val)
    }

    /// Row indices in key order (cached until a row is added or removed).
    fn sorted_order(&self) -> &[usize] {
        self.sorted.get_or_init(|| {
            let mut idx: Vec<usize> = (0..self.map.len()).collect();
            let keys: Vec<&[u8]> = self.map.keys().map(|k| k.as_bytes()).collect();
            idx.sort_unstable_by(|&a, &b| keys[a].cmp(keys[b]));
            Shared::new(idx.into_boxed_slice())
        })
    }
}

impl<V: Clone, const R: bool> Table<V, R> {
    /// Mutable access to the row at `key`; the row is copied first if a fork shares it, and
    /// its cached hash text is dropped.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key).map(write)
    }
    /// Mutable access to the row at position `i`.
    pub fn get_index_mut(&mut self, i: usize) -> Option<(&str, &mut V)> {
        let (k, slot) = self.map.get_index_mut(i)?;
        Some((&**k, write(slot)))
    }
    /// Insert or replace (a replaced key keeps its position, like a Python `dict`); returns
    /// the old row.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        let (_, old) = self.map.insert_full(SharedStr::from(key), slot(value));
        if old.is_none() {
            self.sorted = OnceCell::new();
        }
        old.map(take)
    }
    /// Remove a row, keeping the order of the others (`del d[key]`).
    pub fn shift_remove(&mut self, key: &str) -> Option<V> {
        let s = self.map.shift_remove(key)?;
        self.sorted = OnceCell::new();
        Some(take(s))
    }
    /// Every row mutably (copies every shared row and drops every cached text: prefer
    /// [`Table::get_mut`]).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> + '_ {
        self.map.values_mut().map(write)
    }
    /// Every row mutably, with its key (see [`Table::values_mut`]).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut V)> + '_ {
        self.map.iter_mut().map(|(k, s)| (&**k, write(s)))
    }
}

impl<V, const R: bool> std::ops::Index<&str> for Table<V, R> {
    type Output = V;
    /// Panics if `key` is not a row (use [`Table::get`] on input-derived keys).
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no row `{key}` in table"),
        }
    }
}

impl<V, const R: bool> std::ops::Index<&String> for Table<V, R> {
    type Output = V;
    fn index(&self, key: &String) -> &V {
        &self[key.as_str()]
    }
}

impl<V, const R: bool> FromIterator<(String, V)> for Table<V, R> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(iter: I) -> Self {
        let mut t = Table::new();
        for (k, v) in iter {
            t.map.insert(SharedStr::from(k), slot(v));
        }
        t
    }
}

impl<V: Serialize, const R: bool> Table<V, R> {
    /// The row at `key` with its text as a tool result, rendered on first use and kept until
    /// the row is written (with `RESPONSES = false` the text is rendered on every call).
    pub fn get_cached(&self, key: &str) -> Option<Cached<'_, V>> {
        let s = self.map.get(key)?;
        if !R {
            return Some(Cached { row: &s.val, text: None });
        }
        let text = s.resp.get_or_init(|| crate::runtime::render_text(&s.val).ok().map(String::into_boxed_str));
        Some(Cached { row: &s.val, text: text.as_deref() })
    }

    /// Render and cache the text of every row that has none; returns the length of the
    /// table's sorted text.
    fn warm_sorted(&self) -> Result<usize, eigenbox_pyjson::Error> {
        let order = self.sorted_order();
        let mut w: Option<JsonWriter> = None;
        let mut len = 2 + 2 * order.len().saturating_sub(1);
        for &i in order {
            let Some((k, slot)) = self.map.get_index(i) else { continue };
            let text = match slot.text.get() {
                Some(t) => t,
                None => {
                    let mut t = Vec::new();
                    push_entry(&mut w, k, &slot.val, &mut t)?;
                    if R {
                        slot.resp.get_or_init(|| crate::runtime::render_text(&slot.val).ok().map(String::into_boxed_str));
                    }
                    slot.text.get_or_init(|| t.into_boxed_slice())
                }
            };
            len += text.len();
        }
        Ok(len)
    }

    /// The table's sorted text `{"k": v, ...}`, re-rendering only rows without cached text.
    ///
    /// The rows of a table nested in another table's row (airline's `Flight.dates`) are
    /// rendered without caching: the outer row's cached text already holds them, so caching
    /// them too would keep the same bytes twice in every instance's memory image. A write to a
    /// nested row is a write to its outer row, which re-renders the nested table.
    ///
    /// The result is allocated once at its final size (a large table's text is megabytes, and
    /// a buffer grown by doubling leaves the smaller copies behind in linear memory, which the
    /// frozen image and every slot reset then carry).
    fn sorted_text(&self) -> Result<Vec<u8>, eigenbox_pyjson::Error> {
        let order = self.sorted_order();
        let nested = ROW_RENDERS.with(Cell::get) > 0;
        let mut w: Option<JsonWriter> = None;
        if nested {
            let mut out = vec![b'{'];
            for (n, &i) in order.iter().enumerate() {
                let Some((k, slot)) = self.map.get_index(i) else { continue };
                if n > 0 {
                    out.extend_from_slice(b", ");
                }
                match slot.text.get() {
                    Some(t) => out.extend_from_slice(t),
                    None => push_entry(&mut w, k, &slot.val, &mut out)?,
                }
            }
            out.push(b'}');
            return Ok(out);
        }
        // Render (and cache) every row that has no text yet, then copy the texts.
        let len = self.warm_sorted()?;
        let mut out = Vec::with_capacity(len);
        out.push(b'{');
        for (n, &i) in order.iter().enumerate() {
            let Some((_, slot)) = self.map.get_index(i) else { continue };
            if n > 0 {
                out.extend_from_slice(b", ");
            }
            out.extend_from_slice(slot.text.get().map(|t| &t[..]).unwrap_or_default());
        }
        out.push(b'}');
        Ok(out)
    }
}

thread_local! {
    /// How many table rows are being rendered on this thread: above zero, a table being
    /// rendered is nested in another table's row and does not cache its rows' texts.
    static ROW_RENDERS: Cell<u32> = const { Cell::new(0) };
    /// During [`measure_sorted`]: the sorted text length of the tables seen so far.
    static MEASURED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Run `f` (a sorted render) as a measuring pass: every top-level [`Table`] it meets caches
/// its rows' texts and renders as `{}`, and its real text length is counted. Returns `f`'s
/// result and the counted length; the real text is then what `f` wrote, plus that count, less
/// two bytes per table. Lets a caller allocate a DB's text (megabytes) once at its final size.
pub(crate) fn measure_sorted<R>(f: impl FnOnce() -> R) -> (R, usize) {
    struct Reset(Option<usize>);
    impl Drop for Reset {
        fn drop(&mut self) {
            MEASURED.with(|m| m.set(self.0));
        }
    }
    let outer = MEASURED.with(|m| m.replace(Some(0)));
    let _reset = Reset(outer);
    let r = f();
    (r, MEASURED.with(Cell::get).unwrap_or(0))
}

/// Append one row's `"key": value` to `out`, rendering the value with `w` (made on first use).
fn push_entry<V: Serialize>(w: &mut Option<JsonWriter>, key: &str, val: &V, out: &mut Vec<u8>) -> Result<(), eigenbox_pyjson::Error> {
    let w = w.get_or_insert_with(JsonWriter::sorted);
    w.clear();
    render_row(w, val)?;
    out.reserve(key.len() + 4 + w.as_bytes().len());
    eigenbox_pyjson::push_json_str(out, key);
    out.extend_from_slice(b": ");
    out.extend_from_slice(w.as_bytes());
    Ok(())
}

/// Render one row's value with [`ROW_RENDERS`] raised for the duration.
fn render_row<V: Serialize>(w: &mut JsonWriter, val: &V) -> Result<(), eigenbox_pyjson::Error> {
    struct Depth;
    impl Drop for Depth {
        fn drop(&mut self) {
            ROW_RENDERS.with(|c| c.set(c.get().saturating_sub(1)));
        }
    }
    ROW_RENDERS.with(|c| c.set(c.get() + 1));
    let _depth = Depth;
    w.render(val)
}

impl<V: Serialize, const R: bool> Serialize for Table<V, R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if eigenbox_pyjson::in_sorted_render() {
            if ROW_RENDERS.with(Cell::get) == 0 {
                if let Some(total) = MEASURED.with(Cell::get) {
                    // A measuring pass ([`measure_sorted`]): warm the rows, count the text.
                    let len = self.warm_sorted().map_err(serde::ser::Error::custom)?;
                    MEASURED.with(|m| m.set(Some(total + len)));
                    return RawJson(b"{}").serialize(s);
                }
            }
            let text = self.sorted_text().map_err(serde::ser::Error::custom)?;
            return RawJson(&text).serialize(s);
        }
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>, const R: bool> Deserialize<'de> for Table<V, R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V_<V, const R: bool>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>, const R: bool> Visitor<'de> for V_<V, R> {
            type Value = Table<V, R>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a dictionary")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Table<V, R>, A::Error> {
                let mut t = Table::new();
                while let Some((k, v)) = a.next_entry::<String, V>()? {
                    // A repeated key keeps its first position and takes the last value.
                    t.map.insert(SharedStr::from(k), slot(v));
                }
                Ok(t)
            }
        }
        d.deserialize_map(V_::<V, R>(std::marker::PhantomData))
    }
}

impl<'a, V, const R: bool> IntoIterator for &'a Table<V, R> {
    type Item = (&'a str, &'a V);
    type IntoIter = Box<dyn Iterator<Item = (&'a str, &'a V)> + 'a>;
    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        z: f64,
        a: Vec<String>,
    }

    fn table() -> Table<Row> {
        serde_json::from_value(json!({
            "r2": {"z": 1.0, "a": ["é"]},
            "r1": {"z": 2.5, "a": []},
            "r10": {"z": 1e16, "a": ["x", "y"]},
        }))
        .unwrap()
    }

    #[derive(Serialize)]
    struct Db {
        users: Table<Row>,
        flights: Table<Row>,
    }

    /// The cached render equals the uncached reference render (`dumps_sorted(to_value(..))`)
    /// after every kind of write, and a fork never sees the other side's writes.
    #[test]
    fn cached_text_tracks_every_write() {
        let mut db = Db { users: table(), flights: table() };
        let reference = |db: &Db| eigenbox_pyjson::dumps_sorted(&serde_json::to_value(db).unwrap());
        let check = |db: &Db| assert_eq!(eigenbox_pyjson::to_json_sorted(db).unwrap(), reference(db));
        check(&db);
        let fork = Db { users: db.users.clone(), flights: db.flights.clone() };
        db.users.get_mut("r1").unwrap().z = 3.0;
        check(&db);
        db.flights.insert("r0".into(), Row { z: -0.0, a: vec!["\u{1F600}".into()] });
        check(&db);
        db.flights.insert("r2".into(), Row { z: 7.0, a: vec![] });
        check(&db);
        assert_eq!(db.flights.keys().collect::<Vec<_>>(), ["r2", "r1", "r10", "r0"]);
        db.users.shift_remove("r10");
        check(&db);
        for v in db.flights.values_mut() {
            v.z += 1.0;
        }
        check(&db);
        let (_, r) = db.users.get_index_mut(0).unwrap();
        r.a.push("new".into());
        check(&db);
        // The fork kept the original rows and its own caches are still right.
        assert_eq!(fork.users["r1"].z, 2.5);
        assert_eq!(fork.flights.len(), 3);
        check(&fork);
        assert_ne!(reference(&fork), reference(&db));
    }

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Outer {
        name: String,
        dates: Table<Row>,
    }

    #[derive(Serialize)]
    struct NestedDb {
        zz: Table<Outer>,
        aa: Table<Row>,
    }

    fn nested_db() -> NestedDb {
        let mut zz: Table<Outer> = Table::new();
        for f in ["f2", "f1"] {
            zz.insert(f.into(), Outer { name: f.into(), dates: table() });
        }
        NestedDb { zz, aa: table() }
    }

    /// Rows of a table nested in another table's row are rendered but not cached (the outer
    /// row's text holds them), and a write to a nested row still shows in the next render.
    #[test]
    fn nested_tables_render_right_without_caching_their_rows() {
        let mut db = nested_db();
        let reference = |db: &NestedDb| eigenbox_pyjson::dumps_sorted(&serde_json::to_value(db).unwrap());
        let check = |db: &NestedDb| assert_eq!(eigenbox_pyjson::to_json_sorted(db).unwrap(), reference(db));
        check(&db);
        let outer_cached = db.zz.map.values().all(|s| s.text.get().is_some());
        let inner_cached = db.zz.values().flat_map(|o| o.dates.map.values()).any(|s| s.text.get().is_some());
        assert!(outer_cached && !inner_cached, "outer rows cached: {outer_cached}, some inner row cached: {inner_cached}");
        assert!(db.aa.map.values().all(|s| s.text.get().is_some()));
        let fork = db.zz.clone();
        db.zz.get_mut("f1").unwrap().dates.get_mut("r2").unwrap().z = 9.5;
        check(&db);
        assert!(eigenbox_pyjson::to_json_sorted(&db).unwrap().contains(r#""z": 9.5"#));
        assert_eq!(fork["f1"].dates["r2"].z, 1.0);
    }

    /// The measuring pass counts exactly the text the real render then writes: what it wrote
    /// itself (`{}` for each top-level table) plus the tables' counted lengths.
    #[test]
    fn measuring_pass_counts_the_real_length() {
        let mut db = nested_db();
        for round in 0..3 {
            let mut probe = JsonWriter::sorted();
            let (r, tables) = measure_sorted(|| probe.render(&db));
            r.unwrap();
            let real = eigenbox_pyjson::to_json_sorted(&db).unwrap();
            assert_eq!(probe.as_bytes().len() - 2 * 2 + tables, real.len(), "round {round}");
            assert_eq!(real, eigenbox_pyjson::dumps_sorted(&serde_json::to_value(&db).unwrap()));
            // Outside a measuring pass tables render in full again.
            assert!(eigenbox_pyjson::to_json_sorted(&db.aa).unwrap().len() > 2);
            db.aa.insert(format!("new{round}"), Row { z: 0.5, a: vec!["é".into()] });
            db.zz.get_mut("f2").unwrap().dates.shift_remove("r1");
        }
    }

    #[test]
    fn unsorted_renders_and_json_values_keep_insertion_order() {
        let t = table();
        assert_eq!(eigenbox_pyjson::to_json(&t).unwrap(), eigenbox_pyjson::dumps(&serde_json::to_value(&t).unwrap()));
        assert_eq!(serde_json::to_value(&t).unwrap().as_object().unwrap().keys().collect::<Vec<_>>(), ["r2", "r1", "r10"]);
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(serde_json::from_value::<Table<Row>>(json!(["r1"])).is_err());
        assert!(serde_json::from_value::<Table<Row>>(json!({"r1": {"z": "x", "a": []}})).is_err());
    }
}
