//! Reference-counted handles that never write to a frozen image ([`crate::heap`]): a handle
//! to a block of the frozen heap is *immortal*, so cloning or dropping it changes no count, and
//! writing through it always copies. Elsewhere (a native build, a heap never sealed, blocks
//! allocated since) they count like `Rc`.
//!
//! [`crate::Table`] keeps its rows and keys in them; a domain uses [`Str`] for the strings of
//! its rows and [`Shared`] for nested values it rarely writes, so copying a row for a write
//! (copy-on-write) copies pointers instead of allocating every string again.
//!
//! ```
//! use eigenbox_sdk::{Shared, Str};
//! let a = Str::from("HAT001");
//! let b = a.clone(); // no allocation: the same bytes
//! assert!(a == "HAT001" && b.len() == 6 && a == b);
//! let mut seats = Shared::new(vec![3, 4]);
//! let before = seats.clone();
//! Shared::make_mut(&mut seats)[0] -= 1; // copied first: `before` still shares the old value
//! assert_eq!((seats[0], before[0]), (2, 3));
//! assert_eq!(serde_json::to_string(&(a, seats)).unwrap(), r#"["HAT001",[2,4]]"#);
//! ```
//!
//! Why not `Rc`: resetting an episode clones every table, and writing a row holding a nested
//! table clones that table; with `Rc` each clone bumps a count inside every shared row and
//! key, scattering writes over the whole image, which then has to be copied back in full
//! when the episode's slot is reset.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::borrow::Borrow;
use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;

use crate::heap::is_frozen;

struct Inner<T> {
    count: Cell<usize>,
    val: T,
}

/// A shared value, copied on write (see the [module docs](self)): `Rc` semantics, except that
/// a value in a frozen image is never counted nor written. Serializes as the value itself.
pub struct Shared<T>(NonNull<Inner<T>>, PhantomData<Inner<T>>);

impl<T> Shared<T> {
    /// A new handle owning `val`.
    pub fn new(val: T) -> Self {
        Shared(NonNull::from(Box::leak(Box::new(Inner { count: Cell::new(1), val }))), PhantomData)
    }

    fn inner(&self) -> &Inner<T> {
        // SAFETY: the pointer came from `Box::leak` and stays valid while a handle exists.
        unsafe { self.0.as_ref() }
    }

    /// The only handle, and not frozen: it may be written in place.
    fn unique(&self) -> bool {
        !is_frozen(self.0.as_ptr()) && self.inner().count.get() == 1
    }

    /// Mutable access, copying the value first unless this is the only, unfrozen handle.
    pub fn make_mut(this: &mut Self) -> &mut T
    where
        T: Clone,
    {
        if !this.unique() {
            *this = Shared::new(this.inner().val.clone());
        }
        // SAFETY: unique and unfrozen: no other handle reads the value.
        unsafe { &mut this.0.as_mut().val }
    }

    /// The value, moved out if this is the only, unfrozen handle, else copied.
    pub fn into_value(this: Self) -> T
    where
        T: Clone,
    {
        if !this.unique() {
            return this.inner().val.clone();
        }
        let this = std::mem::ManuallyDrop::new(this);
        // SAFETY: the only handle: the box is reclaimed once, here, and not dropped again.
        let b = unsafe { Box::from_raw(this.0.as_ptr()) };
        b.val
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        if !is_frozen(self.0.as_ptr()) {
            let c = &self.inner().count;
            c.set(c.get() + 1);
        }
        Shared(self.0, PhantomData)
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        if is_frozen(self.0.as_ptr()) {
            return;
        }
        let c = &self.inner().count;
        c.set(c.get() - 1);
        if c.get() == 0 {
            // SAFETY: the last handle: the box is reclaimed once.
            drop(unsafe { Box::from_raw(self.0.as_ptr()) });
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner().val
    }
}

/// A shared string (a table key): one block holding the count, the length and the bytes.
pub(crate) struct SharedStr(NonNull<usize>);

impl<T: Clone + Default> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(T::default())
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, o: &Self) -> bool {
        **self == **o
    }
}

impl<T: serde::Serialize> serde::Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Shared<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Shared::new)
    }
}

/// An immutable string that clones without allocating (see the [module docs](self)): what a
/// domain's rows hold instead of `String`, so a row copied for a write shares its strings.
/// Serializes as a string; compares, hashes and orders as `str`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Str(SharedStr);

impl Str {
    /// The string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Default for Str {
    fn default() -> Self {
        Str::from("")
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Str {
    fn from(s: &str) -> Self {
        Str(SharedStr::from(s))
    }
}

impl From<String> for Str {
    fn from(s: String) -> Self {
        Str(SharedStr::from(s.as_str()))
    }
}

impl From<&String> for Str {
    fn from(s: &String) -> Self {
        Str(SharedStr::from(s.as_str()))
    }
}

impl From<Str> for String {
    fn from(s: Str) -> Self {
        s.as_str().to_string()
    }
}

impl PartialOrd for Str {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Str {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(o.as_str())
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, o: &str) -> bool {
        self.as_str() == o
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, o: &&str) -> bool {
        self.as_str() == *o
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, o: &String) -> bool {
        self.as_str() == o.as_str()
    }
}

impl PartialEq<Str> for str {
    fn eq(&self, o: &Str) -> bool {
        self == o.as_str()
    }
}

impl PartialEq<Str> for &str {
    fn eq(&self, o: &Str) -> bool {
        *self == o.as_str()
    }
}

impl PartialEq<Str> for String {
    fn eq(&self, o: &Str) -> bool {
        self.as_str() == o.as_str()
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Str {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Str {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Str;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str, E> {
                Ok(Str::from(v))
            }
        }
        d.deserialize_str(V)
    }
}

impl SharedStr {
    fn layout(len: usize) -> Layout {
        match Layout::array::<usize>(2).and_then(|h| h.extend(Layout::array::<u8>(len)?)) {
            Ok((l, _)) => l.pad_to_align(),
            Err(_) => panic!("key of {len} bytes is too long"),
        }
    }

    fn header(&self) -> &[Cell<usize>; 2] {
        // SAFETY: the block starts with two initialised `usize`s (count, length).
        unsafe { &*(self.0.as_ptr() as *const [Cell<usize>; 2]) }
    }

    pub(crate) fn as_str(&self) -> &str {
        let len = self.header()[1].get();
        // SAFETY: `len` UTF-8 bytes follow the header (copied from a `&str` in `From`).
        unsafe {
            let bytes = (self.0.as_ptr() as *const u8).add(2 * size_of::<usize>());
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(bytes, len))
        }
    }
}

impl From<&str> for SharedStr {
    fn from(s: &str) -> Self {
        let layout = Self::layout(s.len());
        // SAFETY: the layout is non-zero sized (two `usize`s at least).
        let p = unsafe { alloc(layout) } as *mut usize;
        let Some(p) = NonNull::new(p) else { handle_alloc_error(layout) };
        // SAFETY: freshly allocated with room for the header and `s`.
        unsafe {
            p.as_ptr().write(1);
            p.as_ptr().add(1).write(s.len());
            std::ptr::copy_nonoverlapping(s.as_ptr(), (p.as_ptr() as *mut u8).add(2 * size_of::<usize>()), s.len());
        }
        SharedStr(p)
    }
}

impl From<String> for SharedStr {
    fn from(s: String) -> Self {
        SharedStr::from(s.as_str())
    }
}

impl Clone for SharedStr {
    fn clone(&self) -> Self {
        if !is_frozen(self.0.as_ptr()) {
            let c = &self.header()[0];
            c.set(c.get() + 1);
        }
        SharedStr(self.0)
    }
}

impl Drop for SharedStr {
    fn drop(&mut self) {
        if is_frozen(self.0.as_ptr()) {
            return;
        }
        let [c, len] = self.header();
        c.set(c.get() - 1);
        if c.get() == 0 {
            let layout = Self::layout(len.get());
            // SAFETY: the last handle; allocated with this layout in `From`.
            unsafe { dealloc(self.0.as_ptr() as *mut u8, layout) };
        }
    }
}

impl Deref for SharedStr {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for SharedStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl Hash for SharedStr {
    /// As `str` hashes (lookups by `&str` find it).
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_str().hash(h)
    }
}

impl PartialEq for SharedStr {
    fn eq(&self, o: &Self) -> bool {
        self.as_str() == o.as_str()
    }
}
impl Eq for SharedStr {}

impl fmt::Debug for SharedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_copy_on_write_and_free_once() {
        let mut a = Shared::new(vec![1, 2]);
        let b = a.clone();
        Shared::make_mut(&mut a).push(3);
        assert_eq!((a.as_slice(), b.as_slice()), (&[1, 2, 3][..], &[1, 2][..]));
        // The only handle writes in place and moves out without a copy.
        let p = &*a as *const Vec<i32>;
        Shared::make_mut(&mut a).push(4);
        assert_eq!(&*a as *const Vec<i32>, p);
        assert_eq!(Shared::into_value(a), vec![1, 2, 3, 4]);
        let c = b.clone();
        assert_eq!(Shared::into_value(b), vec![1, 2]);
        drop(c);
    }

    #[test]
    fn shared_strings_hash_and_compare_as_str() {
        use std::collections::HashMap;
        let k = SharedStr::from("é clé");
        let k2 = k.clone();
        let mut m: HashMap<SharedStr, u8> = HashMap::new();
        m.insert(k, 1);
        m.insert(SharedStr::from(String::new()), 2);
        assert_eq!((m.get("é clé"), m.get(""), m.get("x")), (Some(&1), Some(&2), None));
        assert_eq!(format!("{k2:?}"), "\"é clé\"");
        drop(m);
        assert_eq!(&*k2, "é clé");
    }

    #[test]
    fn str_round_trips_through_serde_and_compares_as_str() {
        let s: Str = serde_json::from_str(r#""caf\u00e9""#).unwrap();
        assert_eq!(s, "café");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""café""#);
        assert!(serde_json::from_str::<Str>("1").is_err());
        let v: Vec<Str> = serde_json::from_value(serde_json::json!(["b", "a"])).unwrap();
        let mut sorted = v.clone();
        sorted.sort();
        assert_eq!((sorted[0].as_str(), v[0].as_str()), ("a", "b"));
        assert_eq!(Str::default(), "");
        assert_eq!(format!("{} {:?}", v[0], v[1]), "b \"a\"");
        let shared: Shared<Vec<Str>> = serde_json::from_str(r#"["x"]"#).unwrap();
        assert_eq!(format!("{shared:?}"), "[\"x\"]");
    }
}
