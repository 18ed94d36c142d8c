//! The claim / publish / take / release protocol under loom: every interleaving (within
//! loom's preemption bound) of a few participants on a tiny ring, with loom's model of
//! the atomics' orderings, the handles' hints included. Run by hand (not in CI):
//!
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p ipc-core --release --lib loom`

use std::alloc::{alloc_zeroed, dealloc, Layout as AllocLayout};

use loom::sync::Arc;
use loom::thread;

use super::*;

/// A heap region holding one ring and a hint per participant (as the unit tests'
/// `Heap`, for loom's threads).
struct Region {
    ptr: NonNull<u8>,
    layout: AllocLayout,
    ring: RawRing,
    hints: [Hint; 4],
}

// SAFETY: the region is only reached through the ring's atomics and claimed byte ranges.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    fn new(capacity: usize, maxsize: usize) -> Region {
        let lay = Layout::new(capacity, maxsize, 4).unwrap();
        let layout = AllocLayout::from_size_align(lay.total, 64).unwrap();
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).unwrap();
        // SAFETY: fresh, aligned, `lay.total` bytes, freed in Drop after the ring.
        let ring = unsafe { RawRing::init(ptr, lay) };
        let hints = Default::default();
        Region {
            ptr,
            layout,
            ring,
            hints,
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// Claims, writes and publishes `bytes` if there is room now.
fn try_push(region: &Region, me: u32, bytes: &[u8]) -> bool {
    let r = &region.ring;
    let claim = r
        .try_claim(me, bytes.len(), &region.hints[me as usize])
        .unwrap();
    claim.map(|c| r.write_and_publish(&c, bytes)).is_some()
}

/// Pushes `bytes`, yielding to the others while the ring is full; as `reserve_wait`
/// does before it sleeps, it moves the free cursor itself over records consumers released
/// without moving it, and the head over paddings.
fn push(region: &Region, me: u32, bytes: &[u8]) {
    let r = &region.ring;
    while !try_push(region, me, bytes) {
        r.advance_free().unwrap();
        if let Some(c) = r
            .try_claim_exact(me, bytes.len(), &region.hints[me as usize])
            .unwrap()
        {
            r.write_and_publish(&c, bytes);
            return;
        }
        thread::yield_now();
    }
}

/// Takes one record, yielding while none is ready.
fn pop(region: &Region, me: u32) -> Vec<u8> {
    let r = &region.ring;
    loop {
        if let Taken::Record(c) = r.try_take(me, &region.hints[me as usize]).unwrap() {
            // SAFETY: the read claim owns `len` bytes at `off`.
            let v =
                unsafe { std::slice::from_raw_parts(r.payload_ptr(c.seq, c.inline, c.off), c.len) }
                    .to_vec();
            r.release(c.seq).unwrap();
            return v;
        }
        thread::yield_now();
    }
}

/// Explores `f` with at most `preemptions` forced context switches per execution (loom's
/// bound; every interleaving at switch points beyond that is still not covered).
fn model(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(preemptions);
    b.max_branches = 100_000;
    b.check(f);
}

#[test]
fn loom_two_producers_one_consumer_each_record_once() {
    // One record inline (in its descriptor), one in the data area.
    model(1, || {
        two_producers_one_consumer(Region::new(64, 2), [1, 2], [20, 40])
    });
}

/// Producer threads as participants `ids` push one record `[k; lens[k - 1]]` each
/// (k = 1, 2); this thread (participant 3) pops both, and each comes once.
fn two_producers_one_consumer(region: Region, ids: [u32; 2], lens: [usize; 2]) {
    let region = Arc::new(region);
    let producers: Vec<_> = (0..2)
        .map(|i| {
            let region = Arc::clone(&region);
            let msg = vec![i as u8 + 1; lens[i]];
            thread::spawn(move || push(&region, ids[i], &msg))
        })
        .collect();
    let mut got = vec![pop(&region, 3), pop(&region, 3)];
    for p in producers {
        p.join().unwrap();
    }
    got.sort();
    assert_eq!(got, [vec![1u8; lens[0]], vec![2u8; lens[1]]]);
    assert_eq!(region.ring.len(), 0);
}

#[test]
fn loom_wrap_and_full_ring_keep_fifo() {
    model(2, || {
        // 8 units of data, records of 3 units (too long to live in their descriptors):
        // the third record pads the last 2 units, waits for the first's space and lands
        // after the wrap.
        let region = Arc::new(Region::new(128, 4));
        one_producer_in_order(&region, 3, 48, push);
    });
}

/// A producer thread pushes `n` records `[i; len]` with `push` (participant 1); this
/// thread pops them (participant 2) and checks they come in order.
fn one_producer_in_order(region: &Arc<Region>, n: u8, len: usize, push: fn(&Region, u32, &[u8])) {
    let producer = {
        let region = Arc::clone(region);
        thread::spawn(move || {
            for i in 0..n {
                push(&region, 1, &vec![i; len]);
            }
        })
    };
    for i in 0..n {
        assert_eq!(pop(region, 2), vec![i; len]);
    }
    producer.join().unwrap();
}

/// One producer pushes ten 8-byte records through a ring of maxsize 8, where consumers
/// move the free cursor every 2 records; the consumer takes them all in order. `push`
/// decides whether the producer may move the cursor itself while it waits.
fn batched_free_model(push: fn(&Region, u32, &[u8])) {
    model(1, move || {
        let region = Arc::new(Region::new(1024, 8));
        assert_eq!(region.ring.layout().free_batch, 2);
        one_producer_in_order(&region, 10, 8, push);
        assert_eq!(region.ring.len(), 0);
    });
}

#[test]
fn loom_batched_free_still_frees_every_record() {
    // The producer fills the ring, then needs a place freed by a batch or by its own
    // `advance_free`.
    batched_free_model(push);
}

#[test]
fn loom_consumers_batches_alone_let_a_blocked_producer_through() {
    // The producer only retries its claim, never moving the free cursor itself: the
    // consumer's batched releases must make the room.
    batched_free_model(|r, me, bytes| {
        while !try_push(r, me, bytes) {
            thread::yield_now();
        }
    });
}

#[test]
fn loom_two_consumers_walk_a_lagging_head_each_record_once() {
    // maxsize 8: the head cursor moves every 2 takes, so a consumer often starts behind a
    // record the other took and walks past it.
    model(1, || two_consumers_one_producer([2, 3]));
}

/// Two threads push through one producer handle (one participant, one hint), as threads
/// sharing a `&Producer` or a `&Queue` do; the consumer gets each record once.
#[test]
fn loom_threads_sharing_a_producer_handle_each_record_once() {
    // maxsize 8: the tail cursor moves every 2 claims, so each thread starts from the
    // shared hint, which the other thread may have moved or may be about to.
    model(1, || {
        two_producers_one_consumer(Region::new(1024, 8), [1, 1], [8, 8])
    });
}

/// Two threads take through one consumer handle (one participant, one hint); each record
/// is taken once.
#[test]
fn loom_threads_sharing_a_consumer_handle_each_record_once() {
    model(1, || two_consumers_one_producer([2, 2]));
}

/// Consumer threads as participants `ids` pop one record each from a ring of maxsize 8
/// (free batches of 2) while this thread (participant 1) pushes two; each comes once.
fn two_consumers_one_producer(ids: [u32; 2]) {
    let region = Arc::new(Region::new(1024, 8));
    assert_eq!(region.ring.layout().free_batch, 2);
    let consumers: Vec<_> = ids
        .into_iter()
        .map(|c| {
            let region = Arc::clone(&region);
            thread::spawn(move || pop(&region, c))
        })
        .collect();
    for i in 0..2u8 {
        push(&region, 1, &[i; 8]);
    }
    let mut got: Vec<_> = consumers.into_iter().map(|c| c.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, [[0u8; 8], [1u8; 8]]);
    assert_eq!(region.ring.len(), 0);
}
