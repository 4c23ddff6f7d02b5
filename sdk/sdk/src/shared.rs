//! Reference-counted handles for [`crate::Table`] rows and keys that never write to a frozen
//! image ([`crate::heap`]): a handle to a block of the frozen heap is *immortal*, so cloning
//! or dropping it changes no count, and writing through it always copies. Elsewhere (a native
//! build, a heap never sealed, blocks allocated since) they count like `Rc`.
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

/// A shared value, copied on write (see the [module docs](self)).
pub(crate) struct Shared<T>(NonNull<Inner<T>>, PhantomData<Inner<T>>);

impl<T> Shared<T> {
    pub(crate) fn new(val: T) -> Self {
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
    pub(crate) fn make_mut(this: &mut Self) -> &mut T
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
    pub(crate) fn into_value(this: Self) -> T
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
}
