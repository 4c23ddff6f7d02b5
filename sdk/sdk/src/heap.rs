//! The guest heap of a domain built with the SDK (single-threaded wasm32 only; feature `frozen-heap`, on by
//! default): until the host freezes a state, allocations go to the standard allocator; when it
//! freezes one (it calls the reserved environment function [`SEAL`] right before reading the
//! memory back), the heap is *sealed*: everything allocated so far becomes the frozen heap,
//! and from then on allocations come from a second allocator whose memory lies above all of
//! it (fresh pages from `memory.grow`). A block of the frozen heap that is freed is left as it
//! is. Small blocks (up to 256 bytes) freed in that arena go to per-size free lists and are
//! handed out again first, without the second allocator's bookkeeping.
//!
//! Why: every episode of a frozen state runs in a pooled slot whose memory is put back to the
//! frozen image when the episode ends. With the image's heap never written again (no
//! allocator bookkeeping in its free lists, no new blocks in its holes), an episode's writes
//! stay in a few ranges (the stack, the new allocations above the image, the rows it changes),
//! so the slot can be reset by copying back only the pages that were written
//! ([`InstancePool::reset_dirty_pages_only`] on the host) instead of the whole image, and the
//! untouched pages stay in the CPU's caches for the next episode.
//!
//! Nothing is lost by leaving frozen blocks unfreed: an episode ends with its instance, and
//! its next instance starts from the image again.
//!
//! ```
//! use eigenbox_sdk::heap;
//! // A native build (tests, tools) has nothing to seal: every handle counts like `Rc`.
//! assert!(!heap::seal());
//! assert!(!heap::is_frozen(&0u8));
//! assert_eq!(heap::SEAL, "eigenbox:seal");
//! ```
//!
//! [`InstancePool::reset_dirty_pages_only`]: https://docs.rs/eigenbox-runtime

/// The environment function name a host calls to seal the heap before freezing a state;
/// answers `true`. Names with the `eigenbox:` prefix are reserved for the host.
pub const SEAL: &str = "eigenbox:seal";

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), feature = "frozen-heap"))]
mod imp {
    use std::alloc::{GlobalAlloc, Layout, System};

    /// Single-threaded guest: plain statics, accessed only through the allocator below.
    struct State {
        /// Bytes below this address are the frozen heap (0: not sealed).
        boundary: usize,
        arena: dlmalloc::Dlmalloc,
        /// Freed small blocks of the arena by size class (a singly linked list through their
        /// first word): most of a tool call's allocations are a few dozen bytes (strings,
        /// JSON values, map entries) and are freed before it returns, so they are recycled
        /// without dlmalloc's bookkeeping.
        free: [*mut u8; CLASSES],
    }

    /// Size classes of `GRAIN` bytes up to `CLASSES * GRAIN`, for alignments up to `GRAIN`.
    const GRAIN: usize = 8;
    const CLASSES: usize = 32;

    /// The size class of a block, if it is small enough to have one. A block keeps its class
    /// for life (`dealloc` gets the layout `alloc` got), and a class-`c` block has room for
    /// `(c + 1) * GRAIN` bytes.
    #[inline]
    fn class(l: Layout) -> Option<usize> {
        (l.size() <= CLASSES * GRAIN && l.align() <= GRAIN).then(|| l.size().max(1).div_ceil(GRAIN) - 1)
    }

    static mut STATE: State = State { boundary: 0, arena: dlmalloc::Dlmalloc::new(), free: [std::ptr::null_mut(); CLASSES] };

    impl State {
        /// A block from the sealed arena.
        unsafe fn take(&mut self, l: Layout) -> *mut u8 {
            match class(l) {
                Some(c) => {
                    let head = self.free[c];
                    if head.is_null() {
                        unsafe { self.arena.malloc((c + 1) * GRAIN, GRAIN) }
                    } else {
                        // SAFETY: a freed block of this class; its first word links the next.
                        self.free[c] = unsafe { *(head as *mut *mut u8) };
                        head
                    }
                }
                None => unsafe { self.arena.malloc(l.size(), l.align()) },
            }
        }
        /// Give back a block of the sealed arena.
        unsafe fn give(&mut self, p: *mut u8, l: Layout) {
            match class(l) {
                Some(c) => {
                    // SAFETY: the block has room for a pointer (at least one grain) and is
                    // aligned for one; nothing else refers to it any more.
                    unsafe { *(p as *mut *mut u8) = self.free[c] };
                    self.free[c] = p;
                }
                None => unsafe { self.arena.free(p, l.size(), l.align()) },
            }
        }
    }

    pub struct SealedHeap;

    #[allow(static_mut_refs)]
    fn state() -> &'static mut State {
        // SAFETY: wasm32 guests of this SDK are single-threaded and the allocator is not
        // reentrant, so no two references are live at once.
        unsafe { &mut STATE }
    }

    unsafe impl GlobalAlloc for SealedHeap {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let s = state();
            if s.boundary == 0 {
                unsafe { System.alloc(l) }
            } else {
                unsafe { s.take(l) }
            }
        }
        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            let s = state();
            if s.boundary == 0 {
                unsafe { System.alloc_zeroed(l) }
            } else if class(l).is_some() {
                let p = unsafe { s.take(l) };
                if !p.is_null() {
                    // SAFETY: a block of at least `l.size()` bytes.
                    unsafe { std::ptr::write_bytes(p, 0, l.size()) };
                }
                p
            } else {
                unsafe { s.arena.calloc(l.size(), l.align()) }
            }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            let s = state();
            if s.boundary == 0 {
                unsafe { System.dealloc(p, l) }
            } else if p as usize >= s.boundary {
                unsafe { s.give(p, l) }
            }
            // else: a block of the frozen heap, left as it is.
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
            let s = state();
            if s.boundary == 0 {
                return unsafe { System.realloc(p, l, new_size) };
            }
            // SAFETY: `GlobalAlloc::realloc`'s contract: the new size, rounded up to the
            // alignment, does not overflow.
            let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
            let thawed = p as usize >= s.boundary;
            match (class(l), class(new)) {
                (None, None) if thawed => return unsafe { s.arena.realloc(p, l.size(), l.align(), new_size) },
                // Same class: the block already has the room.
                (Some(a), Some(b)) if thawed && a == b => return p,
                _ => {}
            }
            // Between classes, or a frozen block (left as it is): a new block and a copy.
            let n = unsafe { s.take(new) };
            if !n.is_null() {
                unsafe { std::ptr::copy_nonoverlapping(p, n, l.size().min(new_size)) };
                if thawed {
                    unsafe { s.give(p, l) };
                }
            }
            n
        }
    }

    /// Seal (or seal again): everything allocated so far is frozen; later allocations come
    /// from a new arena above the current end of memory.
    pub fn seal() -> bool {
        let s = state();
        s.boundary = core::arch::wasm32::memory_size(0) * 65536;
        s.arena = dlmalloc::Dlmalloc::new();
        s.free = [std::ptr::null_mut(); CLASSES];
        true
    }

    /// Whether `p` points into the frozen heap (or the image's static data); nothing is below
    /// a boundary of 0 (not sealed).
    pub fn is_frozen(p: *const u8) -> bool {
        (p as usize) < state().boundary
    }
}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), feature = "frozen-heap"))]
#[global_allocator]
static HEAP: imp::SealedHeap = imp::SealedHeap;

/// Outside a single-threaded wasm32 guest, or without the `frozen-heap` feature, there is no
/// heap to seal.
#[cfg(not(all(target_arch = "wasm32", not(target_feature = "atomics"), feature = "frozen-heap")))]
mod imp {
    pub fn seal() -> bool {
        false
    }
    pub fn is_frozen(_: *const u8) -> bool {
        false
    }
}

/// Seal the heap (see the [module docs](self)); returns whether it was sealed: `false` (and
/// nothing happens) outside a single-threaded wasm32 guest or without the `frozen-heap` feature.
pub fn seal() -> bool {
    imp::seal()
}

/// Whether `p` points into memory frozen by [`seal`]: such memory is never written again by
/// the SDK's reference counts. Always `false` when the heap was never sealed.
#[inline]
pub fn is_frozen<T: ?Sized>(p: *const T) -> bool {
    imp::is_frozen(p as *const u8)
}
