//! A counting global allocator shows that steady-state `put` / `get_ref` (and `get` of a
//! `u64`) allocate nothing, for `Queue<u64>` and for byte messages; and that a type rkyv
//! needs scratch space for (`Vec<String>`) reuses the thread's arena from put to put.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mp_queue::{ByteQueue, Queue};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards to the system allocator; counting is a side effect only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f` (this test binary runs one test, so nothing else counts).
fn allocations(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

#[test]
fn steady_state_put_and_get_do_not_allocate() {
    let _w = ipc_core::testing::watchdog("steady_state_put_and_get_do_not_allocate", 60);
    let q: Queue<u64> = Queue::new().unwrap();
    let bytes = ByteQueue::new().unwrap();
    let frame = [7u8; 1000];
    let lists: Queue<Vec<String>> = Queue::new().unwrap();
    let list = || vec!["a".to_string(), "bb".repeat(20), "ccc".to_string()];
    // Built before counting: `put` takes the value, and building it allocates.
    let mut to_put: Vec<Vec<String>> = (0..10_100).map(|_| list()).collect();
    // Warm up: the first operations set up per-thread buffers and the process slot.
    for i in 0..100 {
        q.put(i).unwrap();
        assert_eq!(*q.get_ref().unwrap(), i);
        q.put(i).unwrap();
        q.get().unwrap();
        bytes.put(&frame).unwrap();
        drop(bytes.get_ref().unwrap());
        bytes.reserve(1000).unwrap().commit();
        drop(bytes.get_ref().unwrap());
        lists.put(to_put.pop().unwrap()).unwrap();
        assert_eq!(lists.get_ref().unwrap().len(), 3);
    }
    let n = allocations(|| {
        for i in 0..10_000u64 {
            q.put(i).unwrap();
            assert_eq!(*q.get_ref().unwrap(), i);
            q.put(i).unwrap();
            assert_eq!(q.get().unwrap(), i);
            bytes.put(&frame).unwrap();
            assert_eq!(bytes.get_ref().unwrap().len(), 1000);
            let mut slot = bytes.reserve(1000).unwrap(); // made in place
            slot.fill(i as u8);
            slot.commit();
            assert_eq!(bytes.get_ref().unwrap()[999], i as u8);
            let value = to_put.pop().unwrap();
            lists.put(value).unwrap(); // the value's own memory is freed, never allocated
            assert_eq!(lists.get_ref().unwrap()[1].len(), 40);
        }
    });
    assert_eq!(n, 0, "steady-state queue operations allocated {n} times");
}
