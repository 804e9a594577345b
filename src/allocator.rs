//! The binary's global allocator: mimalloc, entered by its plain `mi_malloc` whenever the
//! layout allows it.
//!
//! The `mimalloc` crate's own `GlobalAlloc` passes every request to `mi_malloc_aligned`, whose
//! fast path only holds for small blocks that happen to be aligned already and which falls back
//! to a slower generic path otherwise. Almost every allocation of the resolver asks for an
//! alignment of 8 or less, which every mimalloc block has: those go to `mi_malloc`, and only
//! the rare larger alignments to the aligned entry points. Freeing is the same call for both.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Every block mimalloc hands out is aligned to at least a machine word (its size classes are
/// whole words and its pages start aligned), so a layout asking for no more can use the
/// unaligned entry points.
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc, with the unaligned fast path for word-aligned layouts.
pub struct Mimalloc;

// SAFETY: every method forwards to mimalloc, a thread-safe allocator whose blocks stay valid
// until freed. `alloc`, `alloc_zeroed` and `realloc` return memory of at least the layout's
// size aligned to at least its alignment: to a word through the plain functions, which are
// used only when `layout.align() <= WORD` (every mimalloc block is word-aligned), and to
// `layout.align()` through the `_aligned` functions otherwise; on failure they return null, as
// `GlobalAlloc` requires. `dealloc` passes back a pointer this allocator returned, and
// `mi_free` frees blocks from either family. `realloc` keeps the old alignment: it uses the
// plain `mi_realloc` only under the same word-alignment condition.
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl's comment.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl's comment.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the `GlobalAlloc` contract).
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl's comment; `ptr` came from this allocator with `layout`.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Layouts the resolver makes and the rare ones beside them: every alignment up to a page,
    /// sizes below, at and above it.
    fn layouts() -> impl Iterator<Item = Layout> {
        let aligns = [1, 2, 4, 8, 16, 32, 64, 128, 4096];
        let sizes = [1, 3, 8, 15, 16, 24, 100, 1000, 5000, 70_000];
        aligns.into_iter().flat_map(move |align| {
            sizes
                .into_iter()
                .map(move |size| Layout::from_size_align(size, align).expect("a valid layout"))
        })
    }

    #[test]
    fn every_block_has_the_layouts_alignment_and_holds_its_size() {
        for layout in layouts() {
            // SAFETY: the layout has a non-zero size; the block is written within its size and
            // freed once, with its layout.
            unsafe {
                let p = Mimalloc.alloc(layout);
                assert!(!p.is_null(), "{layout:?}");
                assert_eq!(p.align_offset(layout.align()), 0, "{layout:?}");
                p.write_bytes(0xa5, layout.size());
                assert_eq!(*p.add(layout.size() - 1), 0xa5);
                Mimalloc.dealloc(p, layout);
            }
        }
    }

    #[test]
    fn zeroed_blocks_are_zero_and_aligned() {
        for layout in layouts() {
            // SAFETY: as above; the block is read within its size.
            unsafe {
                let p = Mimalloc.alloc_zeroed(layout);
                assert_eq!(p.align_offset(layout.align()), 0, "{layout:?}");
                let block = std::slice::from_raw_parts(p, layout.size());
                assert!(block.iter().all(|&b| b == 0), "{layout:?}");
                Mimalloc.dealloc(p, layout);
            }
        }
    }

    #[test]
    fn realloc_keeps_the_contents_and_the_alignment() {
        for layout in layouts() {
            for new_size in [1, layout.size() / 2 + 1, layout.size() * 3] {
                // SAFETY: as above; `realloc` gets the block's own layout, and the new block is
                // freed with the layout of its new size.
                unsafe {
                    let p = Mimalloc.alloc(layout);
                    for i in 0..layout.size() {
                        *p.add(i) = i as u8;
                    }
                    let q = Mimalloc.realloc(p, layout, new_size);
                    assert!(!q.is_null());
                    assert_eq!(
                        q.align_offset(layout.align()),
                        0,
                        "{layout:?} -> {new_size}"
                    );
                    for i in 0..layout.size().min(new_size) {
                        assert_eq!(*q.add(i), i as u8, "{layout:?} -> {new_size}, byte {i}");
                    }
                    let new = Layout::from_size_align(new_size, layout.align()).expect("valid");
                    Mimalloc.dealloc(q, new);
                }
            }
        }
    }
}
