//! The global allocator of Rust entry scripts: Talc, with a cache of small freed blocks in
//! front of it.
//!
//! A typed request makes a few dozen small allocations in the guest (the unpacked names,
//! shapes, element buffers and strings, then the script's result and its JSON text), all
//! freed by the end of the call. Talc took ~200 instructions per allocation and ~100 per
//! free here (callgrind); a block of the same size class popped from a free list takes a
//! handful. Each class keeps at most [`CAP`] blocks, so the cache holds at most
//! `CLASSES × CAP × 256` bytes (256 KiB) that Talc cannot hand to other sizes.

// An allocator is unsafe by nature: the one module of the SDK that needs it.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr;

/// Sizes up to `CLASSES × GRANULE` bytes (alignment up to `GRANULE`) are cached.
const GRANULE: usize = 16;
const CLASSES: usize = 16;
/// Most blocks one class keeps; more are given back to Talc.
const CAP: usize = 64;

/// An allocator (Talc in a guest) behind per-size-class free lists. Single-threaded: the
/// lists have no lock.
pub(crate) struct SizeClassCache<A> {
    inner: A,
    lists: UnsafeCell<[FreeList; CLASSES]>,
}

#[derive(Clone, Copy)]
struct FreeList {
    /// The first free block; each free block starts with the address of the next.
    head: *mut u8,
    len: usize,
}

// SAFETY: wasm without the atomics feature has one thread, so the lists are never shared.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
unsafe impl<A> Sync for SizeClassCache<A> {}

impl<A> SizeClassCache<A> {
    pub(crate) const fn new(inner: A) -> Self {
        SizeClassCache {
            inner,
            lists: UnsafeCell::new(
                [FreeList {
                    head: ptr::null_mut(),
                    len: 0,
                }; CLASSES],
            ),
        }
    }
}

/// The size class of `layout`, if it is cached.
fn class_of(layout: Layout) -> Option<usize> {
    if layout.size() <= CLASSES * GRANULE && layout.align() <= GRANULE {
        Some(layout.size().max(1).div_ceil(GRANULE) - 1)
    } else {
        None
    }
}

/// The layout Talc allocates every block of `class` with.
fn class_layout(class: usize) -> Layout {
    // SAFETY: a non-zero multiple of a power of two, with that power of two as alignment.
    unsafe { Layout::from_size_align_unchecked((class + 1) * GRANULE, GRANULE) }
}

// SAFETY: every block handed out is either the inner allocator's own (large) or a class block
// it allocated with `class_layout`; a class block is freed to it with that same layout. Free blocks hold
// at least a pointer (16 bytes), which is where the list link lives.
unsafe impl<A: GlobalAlloc> GlobalAlloc for SizeClassCache<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            return unsafe { self.inner.alloc(layout) };
        };
        let list = unsafe { &mut (*self.lists.get())[class] };
        if list.head.is_null() {
            return unsafe { self.inner.alloc(class_layout(class)) };
        }
        let block = list.head;
        list.head = unsafe { block.cast::<*mut u8>().read() };
        list.len -= 1;
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            return unsafe { self.inner.dealloc(block, layout) };
        };
        let list = unsafe { &mut (*self.lists.get())[class] };
        if list.len >= CAP {
            return unsafe { self.inner.dealloc(block, class_layout(class)) };
        }
        unsafe { block.cast::<*mut u8>().write(list.head) };
        list.head = block;
        list.len += 1;
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded to the alignment, fits `isize`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // Both large: the inner allocator may grow or shrink in place.
            (None, None) => unsafe { self.inner.realloc(block, layout, new_size) },
            // The block already has room for the new size.
            (Some(old), Some(new)) if old == new => block,
            _ => {
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn a_freed_small_block_is_reused_for_its_class_only() {
        let cache = SizeClassCache::new(System);
        unsafe {
            let a = cache.alloc(layout(20, 8));
            cache.dealloc(a, layout(20, 8));
            // Sizes 17..=32 share a class: the same block comes back.
            assert_eq!(cache.alloc(layout(32, 16)), a);
            // Another class does not get it.
            let b = cache.alloc(layout(20, 8));
            assert_ne!(b, a);
            let c = cache.alloc(layout(8, 8));
            assert_ne!(c, a);
            for (p, l) in [(a, layout(32, 16)), (b, layout(20, 8)), (c, layout(8, 8))] {
                cache.dealloc(p, l);
            }
        }
    }

    #[test]
    fn large_or_over_aligned_blocks_bypass_the_cache() {
        let cache = SizeClassCache::new(System);
        assert_eq!(class_of(layout(257, 8)), None);
        assert_eq!(class_of(layout(64, 32)), None);
        assert_eq!(class_of(layout(0, 1)), Some(0));
        assert_eq!(class_of(layout(256, 16)), Some(CLASSES - 1));
        unsafe {
            let big = cache.alloc(layout(4096, 8));
            cache.dealloc(big, layout(4096, 8));
            assert_eq!((*cache.lists.get()).iter().map(|l| l.len).sum::<usize>(), 0);
        }
    }

    #[test]
    fn each_class_keeps_at_most_cap_blocks() {
        let cache = SizeClassCache::new(System);
        unsafe {
            let blocks: Vec<*mut u8> = (0..CAP + 10).map(|_| cache.alloc(layout(48, 8))).collect();
            for &b in &blocks {
                cache.dealloc(b, layout(48, 8));
            }
            assert_eq!((*cache.lists.get())[2].len, CAP);
            // Drained: the cache is empty again and the next block is a fresh one.
            let again: Vec<*mut u8> = (0..CAP).map(|_| cache.alloc(layout(48, 8))).collect();
            assert_eq!((*cache.lists.get())[2].len, 0);
            for b in again {
                cache.dealloc(b, layout(48, 8));
            }
        }
    }

    #[test]
    fn realloc_keeps_the_bytes_across_classes_and_sizes() {
        let cache = SizeClassCache::new(System);
        unsafe {
            let mut l = layout(10, 1);
            let mut p = cache.alloc(l);
            for i in 0..10 {
                p.add(i).write(i as u8);
            }
            // Same class, bigger class, large, large again, and back to small.
            for size in [16, 100, 1000, 5000, 12] {
                p = cache.realloc(p, l, size);
                assert!(!p.is_null());
                l = layout(size, 1);
                for i in 0..10 {
                    assert_eq!(p.add(i).read(), i as u8, "size {size}");
                }
            }
            cache.dealloc(p, l);
        }
    }
}
