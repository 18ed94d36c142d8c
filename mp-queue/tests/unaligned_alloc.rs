//! No receive path may read a message with rkyv from a byte buffer on the heap without
//! aligning it: this binary's allocator hands out every byte buffer at an odd address, as
//! any allocator may for `u8`, and messages sent by a forked child must come back intact
//! after a `poll`. (A pipe's `poll` once kept the message it looked at in such a buffer;
//! it now leaves it in shared memory.)

use std::alloc::{GlobalAlloc, Layout, System};

use mp_queue::pipe;

mod common;
use common::{fork, reap, serial, watchdog};

/// Puts every allocation of alignment 1 one byte past an aligned block.
struct OddBytes;

// SAFETY: forwards to the system allocator with room for the shift, and undoes the
// shift before freeing; blocks of alignment above 1 pass through unchanged.
unsafe impl GlobalAlloc for OddBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() != 1 {
            // SAFETY: same contract as ours.
            return unsafe { System.alloc(layout) };
        }
        // SAFETY: a non-zero size (one more than asked), alignment 2.
        let base = unsafe { System.alloc(Layout::from_size_align_unchecked(layout.size() + 1, 2)) };
        if base.is_null() {
            return base;
        }
        // SAFETY: the block has one byte more than the caller asked for.
        unsafe { base.add(1) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.align() != 1 {
            // SAFETY: same contract as ours.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // SAFETY: `ptr` came from `alloc` above, one byte past the block it allocated.
        unsafe {
            System.dealloc(
                ptr.sub(1),
                Layout::from_size_align_unchecked(layout.size() + 1, 2),
            )
        }
    }
}

#[global_allocator]
static GLOBAL: OddBytes = OddBytes;

#[test]
fn the_allocator_gives_byte_buffers_odd_addresses() {
    let v: Vec<u8> = Vec::with_capacity(64);
    assert_eq!(v.as_ptr() as usize % 2, 1);
}

#[test]
fn a_polled_message_is_received_intact() {
    let _serial = serial();
    let _w = watchdog("polled_message_intact", 30);
    let (a, b) = pipe::<u64>(true).unwrap();
    let child = fork(|| {
        b.send(0x0123_4567_89ab_cdef).unwrap();
        b.send(7).unwrap();
        0
    });
    assert!(a.poll(None));
    assert_eq!(a.recv().unwrap(), 0x0123_4567_89ab_cdef);
    assert_eq!(a.recv().unwrap(), 7);
    assert_eq!(reap(child), Ok(0));
}
