//! The snapshot encoding: a compact, self-describing binary form of the serde data model.
//!
//! Self-describing (every value carries a tag), so `serde_json::Value` and [`crate::PyValue`]
//! fields, which need `deserialize_any`, round-trip like everything else. It is exactly as
//! expressive as JSON (what [`crate::Domain::agent_db`] would produce), only faster to write
//! and read: strings are length-prefixed and copied, numbers are 8 little-endian bytes.
//!
//! Decoding never panics: every length is checked against the bytes left, and nesting is
//! limited to [`MAX_DEPTH`].

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const U64: u8 = 3;
const I64: u8 = 4;
const F64: u8 = 5;
const STR: u8 = 6;
const SEQ: u8 = 7;
const MAP: u8 = 8;

/// Deepest nesting [`Decoder`] accepts (serde_json's own limit is 128).
pub const MAX_DEPTH: usize = 256;

/// An encoding or decoding failure.
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
impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

// ------------------------------------------------------------------------------ encoder

/// Writes values to a byte buffer; implements [`serde::Serializer`] for `&mut Encoder`.
pub struct Encoder {
    /// The bytes written so far.
    pub out: Vec<u8>,
}

impl Encoder {
    fn len(&mut self, n: usize) {
        self.out.extend_from_slice(&(n as u32).to_le_bytes());
    }
    fn tag_len(&mut self, tag: u8, n: usize) -> Result<(), Error> {
        if n > u32::MAX as usize {
            return Err(Error("container too large".into()));
        }
        self.out.push(tag);
        self.len(n);
        Ok(())
    }
    fn str(&mut self, s: &str) -> Result<(), Error> {
        self.tag_len(STR, s.len())?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }
    /// Reserve a container header whose count is patched in at the end.
    fn open(&mut self, tag: u8) -> usize {
        self.out.push(tag);
        let at = self.out.len();
        self.len(0);
        at
    }
    fn patch(&mut self, at: usize, n: usize) -> Result<(), Error> {
        let n = u32::try_from(n).map_err(|_| Error("container too large".into()))?;
        self.out[at..at + 4].copy_from_slice(&n.to_le_bytes());
        Ok(())
    }
    fn u64(&mut self, v: u64) {
        self.out.push(U64);
        self.out.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        if v >= 0 {
            self.u64(v as u64);
        } else {
            self.out.push(I64);
            self.out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// An open container: where its count goes and how many items it has so far.
pub struct Open<'a> {
    e: &'a mut Encoder,
    at: usize,
    n: usize,
}

impl Open<'_> {
    fn finish(self) -> Result<(), Error> {
        self.e.patch(self.at, self.n)
    }
}

fn out_of_range() -> Error {
    Error("number out of range".into())
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Open<'a>;
    type SerializeTuple = Open<'a>;
    type SerializeTupleStruct = Open<'a>;
    type SerializeTupleVariant = Open<'a>;
    type SerializeMap = Open<'a>;
    type SerializeStruct = Open<'a>;
    type SerializeStructVariant = Open<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(if v { TRUE } else { FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.i64(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.i64(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.i64(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.i64(v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => self.u64(u),
            (_, Ok(i)) => self.i64(i),
            _ => return Err(out_of_range()),
        }
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.u64(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.u64(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.u64(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.u64(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.u64(u64::try_from(v).map_err(|_| out_of_range())?);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.push(F64);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        // As JSON has it: a list of ints (what `Vec<u8>` and `serde_bytes` both read back).
        self.tag_len(SEQ, v.len())?;
        for b in v {
            self.u64((*b).into());
        }
        Ok(())
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(NULL);
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
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        self.tag_len(MAP, 1)?;
        self.str(variant)?;
        v.serialize(self)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Open<'a>, Error> {
        let at = self.open(SEQ);
        Ok(Open { e: self, at, n: 0 })
    }
    fn serialize_tuple(self, len: usize) -> Result<Open<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Open<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Open<'a>, Error> {
        self.tag_len(MAP, 1)?;
        self.str(variant)?;
        let at = self.open(SEQ);
        Ok(Open { e: self, at, n: 0 })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Open<'a>, Error> {
        let at = self.open(MAP);
        Ok(Open { e: self, at, n: 0 })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Open<'a>, Error> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, variant: &'static str, _: usize) -> Result<Open<'a>, Error> {
        self.tag_len(MAP, 1)?;
        self.str(variant)?;
        let at = self.open(MAP);
        Ok(Open { e: self, at, n: 0 })
    }
}

impl ser::SerializeSeq for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.n += 1;
        v.serialize(&mut *self.e)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTuple for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTupleStruct for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeTupleVariant for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeMap for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Error> {
        self.n += 1;
        // Keys are stored as JSON has them: strings (numbers and bools as their text).
        k.serialize(KeyEncoder(&mut *self.e))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        v.serialize(&mut *self.e)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeStruct for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        self.n += 1;
        self.e.str(key)?;
        v.serialize(&mut *self.e)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}
impl ser::SerializeStructVariant for Open<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(self, key, v)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// Map keys, as JSON would store them (a string), rendered by serde_json's own rules.
struct KeyEncoder<'a>(&'a mut Encoder);

impl KeyEncoder<'_> {
    fn via_json<T: Serialize + ?Sized>(self, k: &T) -> Result<(), Error> {
        struct One<'k, K: ?Sized>(&'k K);
        impl<K: Serialize + ?Sized> Serialize for One<'_, K> {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(self.0, &())?;
                m.end()
            }
        }
        let v = serde_json::to_value(One(k)).map_err(|e| Error(e.to_string()))?;
        let key = v.as_object().and_then(|m| m.keys().next()).ok_or_else(|| Error("key must be a string".into()))?;
        self.0.str(key)
    }
}

macro_rules! key_via_json {
    ($($f:ident: $t:ty),*) => {$(
        fn $f(self, v: $t) -> Result<(), Error> { self.via_json(&v) }
    )*};
}

impl ser::Serializer for KeyEncoder<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    key_via_json!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32, serialize_f64: f64, serialize_char: char);

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.0.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.via_json(v)
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.via_json(&())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Error> {
        self.via_json(v)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.via_json(&())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.via_json(&())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Error> {
        self.0.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<(), Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result<(), Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Error> {
        Err(Error("key must be a string".into()))
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error("key must be a string".into()))
    }
}

// ------------------------------------------------------------------------------ decoder

/// Reads values written by [`Encoder`]; implements [`serde::Deserializer`] for
/// `&mut Decoder`.
pub struct Decoder<'de> {
    b: &'de [u8],
    pos: usize,
    depth: usize,
}

fn eof() -> Error {
    Error("unexpected end of snapshot".into())
}

impl<'de> Decoder<'de> {
    /// A decoder over `b`.
    pub fn new(b: &'de [u8]) -> Self {
        Decoder { b, pos: 0, depth: 0 }
    }
    /// Bytes not consumed yet.
    pub fn rest(&self) -> &'de [u8] {
        self.b.get(self.pos..).unwrap_or(&[])
    }
    /// Consume `n` raw bytes.
    pub fn take(&mut self, n: usize) -> Result<&'de [u8], Error> {
        let end = self.pos.checked_add(n).ok_or_else(eof)?;
        let s = self.b.get(self.pos..end).ok_or_else(eof)?;
        self.pos = end;
        Ok(s)
    }
    /// Consume one raw byte.
    pub fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn peek(&self) -> Result<u8, Error> {
        self.b.get(self.pos).copied().ok_or_else(eof)
    }
    fn u32(&mut self) -> Result<usize, Error> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    }
    fn u64(&mut self) -> Result<[u8; 8], Error> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn str_body(&mut self) -> Result<&'de str, Error> {
        let n = self.u32()?;
        let s = self.take(n)?;
        std::str::from_utf8(s).map_err(|_| Error("invalid UTF-8 in snapshot".into()))
    }
    fn enter(&mut self) -> Result<(), Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Error("snapshot nested too deeply".into()));
        }
        Ok(())
    }
}

struct Items<'a, 'de> {
    d: &'a mut Decoder<'de>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.d).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        // Never trust a count beyond what the remaining bytes could hold (one byte each).
        Some(self.left.min(self.d.rest().len()))
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.d).map(Some)
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.d)
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left.min(self.d.rest().len() / 2))
    }
}

impl<'de> Decoder<'de> {
    fn seq<V: Visitor<'de>>(&mut self, v: V, n: usize) -> Result<V::Value, Error> {
        self.enter()?;
        let mut items = Items { d: self, left: n };
        let r = v.visit_seq(&mut items)?;
        let left = items.left;
        self.depth -= 1;
        if left != 0 {
            return Err(Error("trailing items in a snapshot list".into()));
        }
        Ok(r)
    }
    fn map<V: Visitor<'de>>(&mut self, v: V, n: usize) -> Result<V::Value, Error> {
        self.enter()?;
        let mut items = Items { d: self, left: n };
        let r = v.visit_map(&mut items)?;
        let left = items.left;
        self.depth -= 1;
        if left != 0 {
            return Err(Error("trailing entries in a snapshot map".into()));
        }
        Ok(r)
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self.byte()? {
            NULL => v.visit_unit(),
            FALSE => v.visit_bool(false),
            TRUE => v.visit_bool(true),
            U64 => v.visit_u64(u64::from_le_bytes(self.u64()?)),
            I64 => v.visit_i64(i64::from_le_bytes(self.u64()?)),
            F64 => v.visit_f64(f64::from_le_bytes(self.u64()?)),
            STR => v.visit_borrowed_str(self.str_body()?),
            SEQ => {
                let n = self.u32()?;
                self.seq(v, n)
            }
            MAP => {
                let n = self.u32()?;
                self.map(v, n)
            }
            t => Err(Error(format!("invalid tag {t} in snapshot"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        if self.peek()? == NULL {
            self.pos += 1;
            v.visit_none()
        } else {
            v.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self.byte()? {
            STR => v.visit_enum(self.str_body()?.into_deserializer()),
            MAP => {
                if self.u32()? != 1 {
                    return Err(Error("an enum variant must be a map with one entry".into()));
                }
                self.enter()?;
                let r = v.visit_enum(VariantAccess { d: &mut *self })?;
                self.depth -= 1;
                Ok(r)
            }
            _ => Err(Error("expected an enum variant".into())),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct VariantAccess<'a, 'de> {
    d: &'a mut Decoder<'de>,
}

impl<'de> de::EnumAccess<'de> for VariantAccess<'_, 'de> {
    type Error = Error;
    type Variant = Self;
    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let name = seed.deserialize(&mut *self.d)?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(&mut *self.d)
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.d)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(&mut *self.d, v)
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(&mut *self.d, v)
    }
}
