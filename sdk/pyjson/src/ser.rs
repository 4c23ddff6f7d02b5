//! A serde [`Serializer`] that writes Python `json.dumps` text straight from typed data,
//! without building a [`serde_json::Value`] first.
//!
//! The output is byte-identical to `dumps(&serde_json::to_value(t)?)` (or `dumps_sorted`):
//! the same separators, `ensure_ascii` escaping and Python float `repr`, non-finite floats as
//! `null` (what `to_value` makes of them), a repeated map key keeping its first position and
//! its last value. With sorting on, the entries of every map and struct are put in key order
//! when the container closes: entries are written to one buffer as they come, and a container
//! whose keys arrived out of order is rewritten once in sorted order.

use serde::ser::{self, Serialize};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::fmt;

/// Newtype-struct name that marks pre-rendered text ([`RawJson`]).
const RAW_TOKEN: &str = "$eigenbox_pyjson::RawJson";

thread_local! {
    /// How many sorted renders ([`JsonWriter::render`] on a sorted writer) are running on
    /// this thread.
    static SORTED_RENDERS: Cell<u32> = const { Cell::new(0) };
}

/// Whether a sorted render (`json.dumps(..., sort_keys=True)`, i.e. a DB hash or
/// `state_json`) is running on this thread. A type that caches its own sorted text (such as
/// the SDK's `Table`) checks this in its `Serialize` impl and then emits [`RawJson`].
pub fn in_sorted_render() -> bool {
    SORTED_RENDERS.with(|c| c.get() > 0)
}

struct SortedScope;

impl SortedScope {
    fn enter() -> SortedScope {
        SORTED_RENDERS.with(|c| c.set(c.get() + 1));
        SortedScope
    }
}

impl Drop for SortedScope {
    fn drop(&mut self) {
        SORTED_RENDERS.with(|c| c.set(c.get().saturating_sub(1)));
    }
}

/// Text already rendered by a sorted [`JsonWriter`], written verbatim by the sorted writer
/// that serializes it. Only valid inside a sorted render ([`in_sorted_render`]); any other
/// serializer sees a newtype struct of bytes, and an unsorted `JsonWriter` refuses it.
pub struct RawJson<'a>(pub &'a [u8]);

struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl Serialize for RawJson<'_> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(RAW_TOKEN, &RawBytes(self.0))
    }
}

/// Why a value could not be rendered (a map key that is not a string, number or bool, or a
/// domain type's own `Serialize` error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// One entry of an open map or struct: the raw key in `JsonWriter::keys` and the entry's
/// text (`"key": value`, no separator) in `JsonWriter::out`.
#[derive(Clone, Copy)]
struct Entry {
    key: (usize, usize),
    text: (usize, usize),
}

/// The writer behind [`to_json`], [`to_json_sorted`] and [`hash_sorted`]: implements
/// [`serde::Serializer`] for `&mut JsonWriter`.
pub struct JsonWriter {
    out: Vec<u8>,
    sort: bool,
    /// Raw (unescaped) keys of the open maps, stack-like.
    keys: Vec<u8>,
    /// Entries of the open maps, stack-like.
    entries: Vec<Entry>,
    scratch: Vec<u8>,
    order: Vec<Entry>,
    key_buf: String,
    /// The next `serialize_bytes` is [`RawJson`] text.
    raw_next: bool,
}

impl JsonWriter {
    /// A writer for `json.dumps(v, default=str)` (insertion order).
    pub fn new() -> Self {
        Self::with_sort(false)
    }
    /// A writer for `json.dumps(v, sort_keys=True, default=str)`.
    pub fn sorted() -> Self {
        Self::with_sort(true)
    }
    fn with_sort(sort: bool) -> Self {
        JsonWriter { out: Vec::new(), sort, keys: Vec::new(), entries: Vec::new(), scratch: Vec::new(), order: Vec::new(), key_buf: String::new(), raw_next: false }
    }
    /// Write `t` (for a sorted writer, inside a sorted render, so that types that cache their
    /// sorted text can hand it over as [`RawJson`]).
    pub fn render<T: Serialize + ?Sized>(&mut self, t: &T) -> Result<(), Error> {
        let _scope = self.sort.then(SortedScope::enter);
        t.serialize(&mut *self)
    }
    /// Run `f` (which serializes into this writer) as [`JsonWriter::render`] does.
    pub fn render_with<R>(&mut self, f: impl FnOnce(&mut JsonWriter) -> R) -> R {
        let _scope = self.sort.then(SortedScope::enter);
        f(self)
    }
    /// The text written so far (always ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }
    /// The text written so far.
    pub fn into_string(self) -> String {
        // Everything written is ASCII (`ensure_ascii`), so this never fails.
        String::from_utf8(self.out).unwrap_or_default()
    }
    /// Make room for at least `additional` more bytes of output in one allocation.
    pub fn reserve(&mut self, additional: usize) {
        self.out.reserve_exact(additional);
    }
    /// Start over, keeping the buffers' capacity.
    pub fn clear(&mut self) {
        self.out.clear();
        self.keys.clear();
        self.entries.clear();
        self.raw_next = false;
    }
    /// The text written so far, as bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

impl Default for JsonWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// `json.dumps(to_value(t), default=str)` without the intermediate `Value`.
pub fn to_json<T: Serialize + ?Sized>(t: &T) -> Result<String, Error> {
    let mut w = JsonWriter::new();
    // A tool result is typically a few hundred bytes to a few KiB: start there rather than
    // growing (and copying) the text from 8 bytes up.
    w.out.reserve(1024);
    w.render(t)?;
    Ok(w.into_string())
}

/// `json.dumps(to_value(t), sort_keys=True, default=str)` without the intermediate `Value`.
pub fn to_json_sorted<T: Serialize + ?Sized>(t: &T) -> Result<String, Error> {
    let mut w = JsonWriter::sorted();
    w.render(t)?;
    Ok(w.into_string())
}

/// τ²'s DB hash of typed data: `sha256_hex(to_json_sorted(t))`.
pub fn hash_sorted<T: Serialize + ?Sized>(t: &T) -> Result<String, Error> {
    let mut w = JsonWriter::sorted();
    w.render(t)?;
    Ok(hex::encode(Sha256::digest(w.as_bytes())))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that `ensure_ascii` output does not copy verbatim: controls, `"`, `\\`, DEL and
/// everything non-ASCII.
const ESCAPE: [bool; 256] = {
    let mut t = [true; 256];
    let mut c = 0x20;
    while c < 0x7f {
        t[c] = c == b'"' as usize || c == b'\\' as usize;
        c += 1;
    }
    t
};

/// Whether any of the 8 bytes in `x` is one [`ESCAPE`] marks (exact, no false positives:
/// the "has zero byte" / "has byte less than" word tricks).
#[inline]
fn needs_escape8(x: u64) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let below_space = x.wrapping_sub(LO * 0x20) & !x & HI;
    (below_space | has_zero(x ^ (LO * b'"' as u64)) | has_zero(x ^ (LO * b'\\' as u64)) | has_zero(x ^ (LO * 0x7f)) | (x & HI)) != 0
}

/// Whether any byte of `b` is one [`ESCAPE`] marks, eight bytes at a time (the last few
/// padded with a plain byte).
#[inline]
fn needs_escape(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        if needs_escape8(u64::from_le_bytes(word)) {
            return true;
        }
    }
    let rest = chunks.remainder();
    let mut word = [b'a'; 8];
    word[..rest.len()].copy_from_slice(rest);
    needs_escape8(u64::from_le_bytes(word))
}

/// Append `s` as `json.dumps(..., ensure_ascii=True)` writes it, quotes included.
pub fn push_json_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    // Most strings (keys, ids, dates) have nothing to escape: one reservation, one copy.
    out.reserve(b.len() + 2);
    if !needs_escape(b) {
        out.push(b'"');
        out.extend_from_slice(b);
        out.push(b'"');
        return;
    }
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        // Skip the run of bytes written as they are, a word at a time.
        while let Some(w) = b.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            if needs_escape8(u64::from_le_bytes(word)) {
                break;
            }
            i += 8;
        }
        while i < b.len() && !ESCAPE[b[i] as usize] {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let c = b[i];
        out.extend_from_slice(&b[start..i]);
        if c < 0x80 {
            match c {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                _ => push_u16_escape(out, c as u16),
            }
            i += 1;
        } else {
            // A multi-byte UTF-8 sequence: decode one char (s is valid UTF-8).
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            let mut buf = [0u16; 2];
            for u in ch.encode_utf16(&mut buf) {
                push_u16_escape(out, *u);
            }
            i += ch.len_utf8();
        }
        start = i;
    }
    out.extend_from_slice(&b[start..]);
    out.push(b'"');
}

fn push_u16_escape(out: &mut Vec<u8>, u: u16) {
    out.extend_from_slice(&[
        b'\\',
        b'u',
        HEX[(u >> 12) as usize & 15],
        HEX[(u >> 8) as usize & 15],
        HEX[(u >> 4) as usize & 15],
        HEX[u as usize & 15],
    ]);
}

impl JsonWriter {
    fn int<I: itoa::Integer>(&mut self, i: I) {
        self.out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    }
    fn float(&mut self, f: f64) {
        if f.is_finite() {
            crate::push_float_repr(&mut self.out, f);
        } else {
            // `serde_json::to_value` turns NaN and infinities into null.
            self.out.extend_from_slice(b"null");
        }
    }
    fn str(&mut self, s: &str) {
        push_json_str(&mut self.out, s);
    }

    /// Open a map or struct; returns the index of its first entry in `self.entries`.
    fn open(&mut self) -> Compound<'_> {
        self.out.push(b'{');
        let first = self.entries.len();
        let keys_at = self.keys.len();
        Compound { w: self, first, keys_at, plain: None, variant: None }
    }

    /// Start an entry whose raw key is `key`.
    fn begin_entry(&mut self, first: usize, key: &str) {
        if self.entries.len() > first {
            self.out.extend_from_slice(b", ");
        }
        let k0 = self.keys.len();
        self.keys.extend_from_slice(key.as_bytes());
        let t0 = self.out.len();
        push_json_str(&mut self.out, key);
        self.out.extend_from_slice(b": ");
        self.entries.push(Entry { key: (k0, self.keys.len()), text: (t0, t0) });
    }

    fn end_entry(&mut self) {
        let end = self.out.len();
        if let Some(e) = self.entries.last_mut() {
            e.text.1 = end;
        }
    }

    /// Close the map or struct whose entries start at `first`: sort when asked to, then `}`.
    fn close(&mut self, first: usize, keys_at: usize) {
        let n = self.entries.len() - first;
        if self.sort && n > 1 {
            let keys = &self.keys;
            let key = |e: &Entry| &keys[e.key.0..e.key.1];
            let ents = &self.entries[first..];
            let in_order = ents.windows(2).all(|w| key(&w[0]) < key(&w[1]));
            if !in_order {
                self.order.clear();
                self.order.extend_from_slice(ents);
                // Python sorts str keys by code point; UTF-8 byte order is the same.
                self.order.sort_by(|a, b| key(a).cmp(key(b)));
                // Entries already in their sorted place at the front stay where they are; only
                // the rest is copied out and rewritten (a DB whose first table sorts first then
                // never has its largest texts in two buffers at once).
                let mut keep = 0;
                while keep + 1 < self.order.len() && self.order[keep].text == ents[keep].text && key(&self.order[keep]) != key(&self.order[keep + 1]) {
                    keep += 1;
                }
                let base = ents[keep].text.0;
                self.scratch.clear();
                self.scratch.extend_from_slice(&self.out[base..]);
                self.out.truncate(base);
                let mut i = keep;
                let mut wrote = false;
                while i < self.order.len() {
                    // A repeated key: its first position (which sorting keeps) with its last value.
                    let mut j = i;
                    while j + 1 < self.order.len() && key(&self.order[j + 1]) == key(&self.order[i]) {
                        j += 1;
                    }
                    if wrote {
                        self.out.extend_from_slice(b", ");
                    }
                    wrote = true;
                    let e = self.order[j];
                    // A repeated key: same key text, the last value.
                    self.out.extend_from_slice(&self.scratch[e.text.0 - base..e.text.1 - base]);
                    i = j + 1;
                }
            }
        } else if !self.sort && n > 1 {
            self.dedup_unsorted(first);
        }
        self.entries.truncate(first);
        self.keys.truncate(keys_at);
        self.out.push(b'}');
    }

    /// Insertion order with a repeated key: `to_value` keeps the first position with the
    /// last value. Rare (only `#[serde(flatten)]` clashes), so done naively.
    fn dedup_unsorted(&mut self, first: usize) {
        let keys = &self.keys;
        let key = |e: &Entry| &keys[e.key.0..e.key.1];
        let ents = &self.entries[first..];
        let has_dup = if ents.len() <= 16 {
            ents.iter().enumerate().any(|(i, a)| ents[..i].iter().any(|b| key(a) == key(b)))
        } else {
            self.order.clear();
            self.order.extend_from_slice(ents);
            self.order.sort_unstable_by(|a, b| key(a).cmp(key(b)));
            self.order.windows(2).any(|w| key(&w[0]) == key(&w[1]))
        };
        if !has_dup {
            return;
        }
        let base = ents[0].text.0;
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.out[base..]);
        self.out.truncate(base);
        let mut wrote = false;
        // Quadratic, but only ever reached with a repeated key (never for a real map).
        for (i, a) in ents.iter().enumerate() {
            if ents[..i].iter().any(|b| key(a) == key(b)) {
                continue;
            }
            let last = ents.iter().rev().find(|b| key(a) == key(b)).copied().unwrap_or(*a);
            if wrote {
                self.out.extend_from_slice(b", ");
            }
            wrote = true;
            self.out.extend_from_slice(&self.scratch[last.text.0 - base..last.text.1 - base]);
        }
    }
}

/// An open JSON object (map, struct, struct variant).
pub struct Compound<'a> {
    w: &'a mut JsonWriter,
    first: usize,
    keys_at: usize,
    /// A struct in an unsorted render: its field names are distinct and stay in order, so
    /// entries need no bookkeeping; the number written so far.
    plain: Option<usize>,
    /// Bookkeeping of the `{"Variant": {...}}` wrapper of a struct variant.
    variant: Option<(usize, usize)>,
}

/// An open JSON array (seq, tuple, tuple variant).
pub struct Seq<'a> {
    w: &'a mut JsonWriter,
    n: usize,
    /// Entry bookkeeping of the `{"Variant": [...]}` wrapper, if any.
    variant: Option<(usize, usize)>,
}

impl<'a> ser::Serializer for &'a mut JsonWriter {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Seq<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        if i64::try_from(v).is_ok() || u64::try_from(v).is_ok() {
            self.int(v);
            Ok(())
        } else {
            Err(Error("number out of range".into()))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.int(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        if u64::try_from(v).is_ok() {
            self.int(v);
            Ok(())
        } else {
            Err(Error("number out of range".into()))
        }
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        // Exactly what `to_value` stores for an f32.
        match serde_json::Value::from(v) {
            serde_json::Value::Number(n) => self.float(n.as_f64().unwrap_or(f64::NAN)),
            _ => self.out.extend_from_slice(b"null"),
        }
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        if std::mem::take(&mut self.raw_next) {
            self.out.extend_from_slice(v);
            return Ok(());
        }
        use ser::SerializeSeq;
        let mut s = self.serialize_seq(Some(v.len()))?;
        for b in v {
            s.serialize_element(b)?;
        }
        s.end()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Result<(), Error> {
        if name == RAW_TOKEN {
            if !self.sort {
                return Err(Error("pre-rendered sorted JSON in an unsorted render".into()));
            }
            self.raw_next = true;
            let r = v.serialize(&mut *self);
            self.raw_next = false;
            return r;
        }
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        use ser::SerializeMap;
        let m = self.open();
        m.w.begin_entry(m.first, variant);
        v.serialize(&mut *m.w)?;
        m.w.end_entry();
        m.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Seq<'a>, Error> {
        self.out.push(b'[');
        Ok(Seq { w: self, n: 0, variant: None })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Seq<'a>, Error> {
        self.out.push(b'{');
        let first = self.entries.len();
        let keys_at = self.keys.len();
        self.begin_entry(first, variant);
        self.out.push(b'[');
        Ok(Seq { w: self, n: 0, variant: Some((first, keys_at)) })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(self.open())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Error> {
        let sort = self.sort;
        let mut c = self.open();
        if !sort {
            c.plain = Some(0);
        }
        Ok(c)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound<'a>, Error> {
        self.out.push(b'{');
        let first = self.entries.len();
        let keys_at = self.keys.len();
        self.begin_entry(first, variant);
        let mut inner = self.open();
        inner.variant = Some((first, keys_at));
        Ok(inner)
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        if self.n > 0 {
            self.w.out.extend_from_slice(b", ");
        }
        self.n += 1;
        v.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), Error> {
        self.w.out.push(b']');
        if let Some((first, keys_at)) = self.variant {
            self.w.end_entry();
            self.w.close(first, keys_at);
        }
        Ok(())
    }
}
impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}
impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}
impl ser::SerializeTupleVariant for Seq<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // Reuse one key buffer rather than allocating a String per entry.
        let mut k = KeyBuf(std::mem::take(&mut self.w.key_buf));
        k.0.clear();
        let r = key.serialize(&mut k);
        if r.is_ok() {
            self.w.begin_entry(self.first, &k.0);
        }
        self.w.key_buf = k.0;
        r
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut *self.w)?;
        self.w.end_entry();
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        self.w.close(self.first, self.keys_at);
        if let Some((first, keys_at)) = self.variant {
            self.w.end_entry();
            self.w.close(first, keys_at);
        }
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        if let Some(n) = &mut self.plain {
            if *n > 0 {
                self.w.out.extend_from_slice(b", ");
            }
            *n += 1;
            push_json_str(&mut self.w.out, key);
            self.w.out.extend_from_slice(b": ");
            return v.serialize(&mut *self.w);
        }
        self.w.begin_entry(self.first, key);
        v.serialize(&mut *self.w)?;
        self.w.end_entry();
        Ok(())
    }
    fn end(self) -> Result<(), Error> {
        if self.plain.is_some() {
            self.w.out.push(b'}');
            return Ok(());
        }
        ser::SerializeMap::end(self)
    }
}
impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), Error> {
        ser::SerializeMap::end(self)
    }
}

/// Map keys the way `serde_json::to_value` accepts them: strings, chars, integers, bools,
/// finite floats and unit variants.
struct KeyBuf(String);

fn key_err() -> Error {
    Error("key must be a string".into())
}

macro_rules! key_int {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), Error> {
            self.0.push_str(itoa::Buffer::new().format(v));
            Ok(())
        }
    )*};
}

impl ser::Serializer for &mut KeyBuf {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    key_int!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64, serialize_i128: i128,
             serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64, serialize_u128: u128);

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float_key(v)
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float_key(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.0.push_str(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Error> {
        Err(key_err())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_err())
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_err())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_err())
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_err())
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_err())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(key_err())
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_err())
    }
}

impl KeyBuf {
    /// serde_json's own rendering of a float key (not Python's): what `to_value` produced.
    fn float_key<F: Serialize>(&mut self, f: F) -> Result<(), Error> {
        let v = serde_json::to_value(SingleKey(f)).map_err(|e| Error(e.to_string()))?;
        let k = v.as_object().and_then(|m| m.keys().next()).ok_or_else(key_err)?;
        self.0.push_str(k);
        Ok(())
    }
}

/// A one-entry map `{f: 0}`, to let serde_json render a float key.
struct SingleKey<F>(F);
impl<F: Serialize> Serialize for SingleKey<F> {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(&self.0, &0)?;
        m.end()
    }
}
