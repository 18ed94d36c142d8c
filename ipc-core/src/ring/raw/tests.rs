//! The protocol on a heap region: single-threaded edge cases, threads as participants, and
//! random corruption. These also run under Miri: `cargo +nightly miri test -p ipc-core --lib raw`.

use super::*;
use std::alloc::{alloc_zeroed, dealloc, Layout as AllocLayout};

/// A 64-byte-aligned heap region holding one ring, and hints for each participant (as
/// each handle keeps its own: `hints` for claims, `take_hints` for takes). Derefs to
/// the ring.
struct Heap {
    ptr: NonNull<u8>,
    layout: AllocLayout,
    ring: RawRing,
    hints: [Hint; 8],
    take_hints: [Hint; 8],
}

// SAFETY: the region is only reached through the ring (which is Sync) and `scribble`.
unsafe impl Sync for Heap {}

impl std::ops::Deref for Heap {
    type Target = RawRing;
    fn deref(&self) -> &RawRing {
        &self.ring
    }
}

impl Heap {
    fn new(capacity: usize, maxsize: usize) -> Heap {
        let lay = Layout::new(capacity, maxsize, 8).unwrap();
        let layout = AllocLayout::from_size_align(lay.total, 64).unwrap();
        // SAFETY: non-zero size.
        let ptr = NonNull::new(unsafe { alloc_zeroed(layout) }).unwrap();
        // SAFETY: fresh, aligned, `lay.total` bytes, freed only in Drop after the ring.
        let ring = unsafe { RawRing::init(ptr, lay) };
        Heap {
            ptr,
            layout,
            ring,
            hints: Default::default(),
            take_hints: Default::default(),
        }
    }

    fn size(&self) -> usize {
        self.layout.size()
    }

    /// Overwrites one byte anywhere in the region, as a buggy peer would.
    fn scribble(&self, at: usize, byte: u8) {
        assert!(at < self.size());
        // SAFETY: in bounds (checked above); a raw byte store, as another process would
        // make, with no reference to the region alive across it.
        unsafe { self.ptr.as_ptr().add(at).write_volatile(byte) };
    }
}

impl Drop for Heap {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// Pushes `bytes` if there is room, counting records consumers released without moving
/// the free cursor (as `Producer::try_push` does).
fn push(r: &Heap, me: u32, bytes: &[u8]) -> bool {
    let hint = &r.hints[me as usize];
    let mut claim = r.try_claim(me, bytes.len(), hint).unwrap();
    if claim.is_none() {
        r.advance_free().unwrap();
        claim = r.try_claim_exact(me, bytes.len(), hint).unwrap();
    }
    claim.map(|c| r.write_and_publish(&c, bytes)).is_some()
}

fn pop(r: &Heap, me: u32) -> Option<Vec<u8>> {
    match r.try_take(me, &r.take_hints[me as usize]).unwrap() {
        Taken::Record(c) => {
            assert_eq!(c.off % UNIT, 0, "payloads are 16-byte aligned");
            // SAFETY: the read claim owns `len` bytes at `off`.
            let v =
                unsafe { std::slice::from_raw_parts(r.payload_ptr(c.seq, c.inline, c.off), c.len) }
                    .to_vec();
            r.release(c.seq).unwrap();
            Some(v)
        }
        _ => None,
    }
}

#[test]
fn fifo_with_exact_lengths_across_many_wraps() {
    let h = Heap::new(256, 8);
    let r = &h;
    for round in 0..500u32 {
        let len = (round as usize * 7) % 100;
        let msg: Vec<u8> = (0..len).map(|i| (i as u32 + round) as u8).collect();
        assert!(push(r, 0, &msg));
        assert_eq!(r.len(), 1, "wrap padding is not counted");
        assert_eq!(pop(r, 1).unwrap(), msg);
        assert_eq!(r.len(), 0);
    }
    assert!(pop(r, 1).is_none());
}

#[test]
fn bounded_in_items_and_in_bytes() {
    let h = Heap::new(256, 3);
    let r = &h;
    assert!(push(r, 0, b"a") && push(r, 0, b"b") && push(r, 0, b"c"));
    assert!(!push(r, 0, b"d"), "maxsize 3");
    assert!(r.is_full());
    assert_eq!(pop(r, 0).unwrap(), b"a");
    assert!(push(r, 0, b"d"));
    while pop(r, 0).is_some() {}
    assert!(push(r, 0, &[1; 200]));
    assert!(!push(r, 0, &[2; 100]), "only 56 bytes left");
    assert_eq!(pop(r, 0).unwrap(), vec![1; 200]);
    assert!(push(r, 0, &[2; 100]), "wraps with padding");
    assert_eq!(pop(r, 0).unwrap(), vec![2; 100]);
}

#[test]
fn a_record_of_the_whole_capacity_fits_once_the_ring_drains() {
    let h = Heap::new(256, 4);
    let r = &h;
    assert!(
        push(r, 0, &[1; INLINE + 1]),
        "too long to live in its descriptor"
    );
    assert!(!push(r, 0, &[9; 256]));
    assert_eq!(pop(r, 0).unwrap(), vec![1; INLINE + 1]);
    assert!(push(r, 0, &[9; 256]), "pads to the start, then fits");
    assert_eq!(pop(r, 0).unwrap(), vec![9; 256]);
}

#[test]
fn cancelled_and_abandoned_records_are_skipped() {
    let h = Heap::new(256, 8);
    let r = &h;
    let c = r.try_claim(3, 10, &r.hints[3]).unwrap().unwrap();
    assert_eq!(r.len(), 1, "a record being written counts");
    r.cancel(&c);
    assert_eq!(r.len(), 0, "a cancelled record is not counted");
    assert!(matches!(
        r.try_peek(1, &r.take_hints[1]).unwrap(),
        Taken::Empty
    ));
    assert!(push(r, 0, b"after cancel"));
    assert_eq!(r.len(), 1);
    // A peek passes the padding the cancel left and finds the record, taking nothing.
    assert!(matches!(
        r.try_peek(1, &r.take_hints[1]).unwrap(),
        Taken::Ready
    ));
    assert!(matches!(
        r.try_peek(1, &r.take_hints[1]).unwrap(),
        Taken::Ready
    ));
    assert_eq!(r.len(), 1, "a peek takes nothing");
    assert_eq!(pop(r, 1).unwrap(), b"after cancel");
    assert_eq!(r.len(), 0);

    // A writer that dies after claiming: the consumer sees Busy, then recovers.
    let _dead = r.try_claim(5, 10, &r.hints[5]).unwrap().unwrap();
    assert!(push(r, 0, b"behind the dead one"));
    let Taken::Busy { seq, word } = r.try_take(1, &r.take_hints[1]).unwrap() else {
        panic!("expected busy")
    };
    assert_eq!(owner_of(word), 5);
    r.abandon_write(seq, word).unwrap();
    assert_eq!(r.len(), 1, "only the live record counts");
    assert_eq!(pop(r, 1).unwrap(), b"behind the dead one");

    // A reader that dies holding a record: its space comes back.
    assert!(push(r, 0, b"held"));
    let Taken::Record(rc) = r.try_take(6, &r.take_hints[6]).unwrap() else {
        panic!()
    };
    r.advance_free().unwrap(); // as a producer does before it looks (the cursor lags)
    let (seq, word) = r.oldest_held().unwrap();
    assert_eq!((seq, owner_of(word)), (rc.seq, 6));
    r.abandon_read(seq, word).unwrap();
    assert!(r.oldest_held().is_none());
    for i in 0..8u8 {
        assert!(push(r, 0, &[i]), "all space is free again");
    }
}

#[test]
fn zero_length_records_round_trip() {
    let h = Heap::new(64, 4);
    for _ in 0..20 {
        assert!(push(&h, 0, b""));
        assert_eq!(pop(&h, 0).unwrap(), b"");
    }
}

#[test]
fn threads_as_participants_mpmc_exactly_once() {
    const PER: u32 = if cfg!(miri) { 50 } else { 20_000 };
    // Under Miri a watchdog thread would only slow it down; its runs are short.
    #[cfg(not(miri))]
    let _w = crate::testing::watchdog("threads_as_participants_mpmc_exactly_once", 120);
    let len_of = |i: u32| 8 + (i as usize % 57); // inline in the descriptor, and in the data area
    let h = Heap::new(1024, 16);
    let r = &h;
    let seen = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for p in 0..2u32 {
            s.spawn(move || {
                let mut msg = [0u8; 64];
                msg[..4].copy_from_slice(&p.to_le_bytes());
                for i in 0..PER {
                    msg[4..8].copy_from_slice(&i.to_le_bytes());
                    while !push(r, p, &msg[..len_of(i)]) {
                        std::thread::yield_now();
                    }
                }
            });
        }
        for c in 0..2u32 {
            let seen = &seen;
            s.spawn(move || {
                // Each consumer sees each producer's records in the order they were put.
                let mut last = [None::<u32>; 2];
                let mut mine = Vec::with_capacity(PER as usize);
                while mine.len() < PER as usize {
                    match pop(r, 2 + c) {
                        Some(m) => {
                            let p = u32::from_le_bytes(m[..4].try_into().unwrap());
                            let i = u32::from_le_bytes(m[4..8].try_into().unwrap());
                            assert!(p < 2 && m.len() == len_of(i), "record {p}/{i} malformed");
                            assert!(last[p as usize] < Some(i), "producer {p} out of order");
                            last[p as usize] = Some(i);
                            mine.push((p, i));
                        }
                        None => std::thread::yield_now(),
                    }
                }
                seen.lock().unwrap().extend(mine);
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort_unstable();
    let want: Vec<(u32, u32)> = (0..2).flat_map(|p| (0..PER).map(move |i| (p, i))).collect();
    assert_eq!(seen, want, "every record exactly once");
    assert!(pop(r, 0).is_none());
}

#[test]
// Byte stores over atomic words are mixed-size accesses, which Miri does not model (it
// stops with an internal error); the cross-process corruption tests cover this instead.
#[cfg_attr(miri, ignore)]
fn corrupted_bytes_give_errors_not_crashes() {
    let rounds = 3000;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rand = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..rounds {
        let h = Heap::new(256, 4);
        for i in 0..3u8 {
            push(&h, 0, &vec![i; 20 + 20 * usize::from(i)]); // inline, then data area
        }
        let _ = pop(&h, 1);
        for _ in 0..1 + rand() % 8 {
            h.scribble((rand() as usize) % h.size(), rand() as u8);
        }
        // Whatever the bytes say, operations return (Ok or Err) and stay in bounds.
        for _ in 0..8 {
            if let Ok(Some(c)) = h.try_claim_exact(0, 8, &h.hints[0]) {
                assert!(c.off + c.len <= h.ring.layout().capacity());
                h.ring.publish(&c, 8);
            }
            if let Ok(Taken::Record(c)) = h.try_take(1, &h.take_hints[1]) {
                assert!(c.off + c.len <= h.ring.layout().capacity());
                let _ = h.ring.release(c.seq);
            }
        }
        // SAFETY: the region is still allocated and aligned; attach must validate it.
        let _ = unsafe { RawRing::attach(h.ptr, h.layout.size()) };
    }
}

#[test]
fn small_records_live_in_their_descriptors() {
    let h = Heap::new(64, 8);
    let r = &h;
    // The data area holds 64 bytes; eight records of INLINE bytes take none of it.
    for i in 0..8u8 {
        assert!(push(r, 0, &[i; INLINE]), "record {i}");
    }
    assert!(!push(r, 0, b"ninth"), "maxsize 8");
    assert!(push_room_left(r, 64), "the data area is untouched");
    for i in 0..8u8 {
        assert_eq!(pop(r, 0).unwrap(), vec![i; INLINE]);
    }
    assert!(push(r, 0, &[]), "an empty record is inline too");
    assert_eq!(pop(r, 0).unwrap(), Vec::<u8>::new());
}

/// True if `len` more bytes fit between the free cursor and the tail (wrap not counted).
fn push_room_left(r: &RawRing, len: usize) -> bool {
    let c = r.ctl();
    let (tail, free) = (
        c.tail.0.load(Ordering::SeqCst),
        c.free.0.load(Ordering::SeqCst),
    );
    lo(tail).wrapping_sub(lo(free)) as usize + units_for(len) <= r.lay.cap_units as usize
}

#[test]
fn an_inline_record_claiming_more_than_fits_is_refused() {
    let h = Heap::new(256, 8);
    let r = &h;
    assert!(push(r, 0, b"short"));
    let d = r.desc(0);
    let data = d.data.load(Ordering::Relaxed);
    d.data
        .store(pack(seq_of(data), INLINE as u32 + 1), Ordering::Relaxed);
    assert!(
        r.try_take(1, &r.take_hints[1]).is_err(),
        "an empty extent holds at most INLINE bytes"
    );
}

#[test]
fn a_record_that_cannot_fit_after_the_wrap_claims_no_padding() {
    let h = Heap::new(256, 8); // 16 units
    let r = &h;
    assert!(push(r, 0, &[1; 160])); // units 0..10
    assert!(
        !push(r, 0, &[2; 160]),
        "10 units: 6 before the end, then 10 more at the start"
    );
    // Nothing was padded: the 6 units before the end still take a smaller record.
    assert!(push(r, 0, &[3; 90]));
    assert_eq!(pop(r, 0).unwrap(), vec![1; 160]);
    assert_eq!(pop(r, 0).unwrap(), vec![3; 90]);
}

#[test]
fn a_corrupted_tail_reads_as_full_without_a_panic() {
    let h = Heap::new(256, 8);
    let r = &h;
    // 2^31 - 1 records in flight: past any n_desc, and at i32::MAX for the padding clamp.
    // (A tail 2^31 or more ahead reads as behind the free cursor, and is passed over.)
    r.ctl()
        .tail
        .0
        .store(pack((1 << 31) - 1, 0), Ordering::Relaxed);
    assert!(r.is_full());
    assert!(
        r.try_claim(0, 8, &r.hints[0]).is_err(),
        "the claim reports the cursors as corrupted"
    );
}

#[test]
fn lagging_cursors_keep_len_exact_and_fresh_handles_find_their_place() {
    let h = Heap::new(4096, 64); // free_batch 16: the cursors move every 16 records
    let r = &h;
    assert_eq!(r.layout().free_batch, 16);
    for i in 0..5u8 {
        assert!(push(r, 0, &[i; 8]));
    }
    assert_eq!(
        seq_of(r.ctl().tail.0.load(Ordering::SeqCst)),
        0,
        "the tail lags"
    );
    assert_eq!(r.len(), 5, "len walks to the true tail");
    // Participant 1 has never claimed (a fresh hint): it starts from the lagging cursor
    // and steps past the five records.
    assert!(push(r, 1, b"sixth"));
    for i in 0..3u8 {
        assert_eq!(pop(r, 2).unwrap(), [i; 8]);
    }
    assert_eq!(r.ctl().head.0.load(Ordering::SeqCst), 0, "the head lags");
    assert_eq!(r.len(), 3, "len walks to the true head");
    // Participant 3 walks past the three records participant 2 took.
    assert_eq!(pop(r, 3).unwrap(), [3; 8]);
    assert_eq!(pop(r, 2).unwrap(), [4; 8]);
    assert_eq!(pop(r, 2).unwrap(), b"sixth");
    assert!(pop(r, 3).is_none());
    assert_eq!(r.len(), 0);
    // Many laps later the cursors have moved, and every record came out once, in order.
    for round in 0..200u32 {
        let msg = round.to_le_bytes();
        assert!(push(r, round % 2, &msg));
        assert_eq!(pop(r, 2 + round % 3).unwrap(), msg);
    }
    assert_ne!(r.ctl().head.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_writer_dead_before_its_extent_is_stepped_past_once_recovered() {
    let h = Heap::new(256, 8);
    let r = &h;
    assert!(push(r, 0, b"before"));
    // Participant 5 claims record 1 and dies before it stores the extent: the descriptor
    // says `WRITING(1, 5)` and its extent is still last lap's.
    let d = r.desc(1);
    let dead = word(1, WRITING, 5);
    d.claim.store(dead, Ordering::SeqCst);
    assert_ne!(seq_of(d.extent.load(Ordering::SeqCst)), 1);
    assert!(
        !push(r, 0, b"after"),
        "a producer cannot step past a claim whose extent it cannot know"
    );
    // Recovered where it lies, behind a record no consumer took yet (as a process that
    // reclaims the dead one's slot does): producers step past it, giving it an empty
    // extent, since the freer will not reach it before they need to.
    r.abandon_write(1, dead).unwrap();
    assert!(push(r, 0, b"after"), "the padding ends where it starts");
    assert_eq!(seq_of(d.extent.load(Ordering::SeqCst)), 1, "stamped");
    assert_eq!(pop(r, 1).unwrap(), b"before");
    assert_eq!(pop(r, 1).unwrap(), b"after");
    // Its place is released like any other record's: full laps of records in the data
    // area (more than INLINE bytes each) still fit.
    for lap in 0..3u8 {
        for i in 0..4u8 {
            let mut msg = [0u8; 48];
            msg[..2].copy_from_slice(&[lap, i]);
            assert!(push(r, 0, &msg), "lap {lap}, record {i}");
        }
        for i in 0..4u8 {
            assert_eq!(pop(r, 1).unwrap()[..2], [lap, i]);
        }
    }
    assert_eq!(r.len(), 0);

    // The same death at the tail, but now the freer comes first: a consumer passes the
    // padding, frees it, and gives it its empty extent on the way.
    let s = r.tail_now();
    let d = r.desc(s);
    d.claim.store(word(s, WRITING, 5), Ordering::SeqCst);
    let Taken::Busy { seq, word: w } = r.try_take(1, &r.take_hints[1]).unwrap() else {
        panic!("expected busy")
    };
    r.abandon_write(seq, w).unwrap();
    assert!(matches!(
        r.try_take(1, &r.take_hints[1]).unwrap(),
        Taken::Empty
    ));
    assert_eq!(
        seq_of(d.extent.load(Ordering::SeqCst)),
        s,
        "stamped by the freer"
    );
    assert_eq!(
        seq_of(r.ctl().free.0.load(Ordering::SeqCst)),
        s.wrapping_add(1)
    );
    assert!(push(r, 0, b"last"));
    assert_eq!(pop(r, 1).unwrap(), b"last");
}

/// Makes a fresh ring look as if `seq` records had passed through it: every descriptor
/// holds its last lap's released record (empty), and every cursor is at `seq`.
fn fast_forward(r: &RawRing, seq: u32) {
    let n = r.lay.n_desc;
    for k in 1..=n {
        let last = seq.wrapping_sub(k);
        let d = r.desc(last);
        d.claim.store(word(last, DONE, 0), Ordering::SeqCst);
        d.extent.store(pack(last, 0), Ordering::SeqCst);
    }
    let c = r.ctl();
    for cursor in [&c.tail.0, &c.free.0, &c.free_seen.0] {
        cursor.store(pack(seq, 0), Ordering::SeqCst);
    }
    c.head.0.store(seq, Ordering::SeqCst);
}

#[test]
fn fresh_handles_work_past_two_to_the_31_records_and_across_the_wrap() {
    // A fresh hint is 0: more than 2^31 records behind here, which a wrapping comparison
    // would take for ahead. Then across 2^32, where seqs wrap to 0.
    for start in [(1u32 << 31) + 5, u32::MAX - 20] {
        let h = Heap::new(256, 8);
        let r = &h;
        fast_forward(r, start);
        for i in 0..40u32 {
            let msg = i.to_le_bytes();
            assert!(push(r, i % 2, &msg), "start {start}, record {i}");
            assert_eq!(pop(r, 2 + i % 3).unwrap(), msg, "start {start}, record {i}");
        }
        assert_eq!(r.len(), 0);
        assert!(pop(r, 4).is_none());
    }
}

#[test]
fn a_stale_padding_never_stamps_a_later_laps_extent() {
    let h = Heap::new(256, 8);
    let r = &h;
    let n = r.lay.n_desc;
    // A producer read `PADDING(0)` (a writer died before its extent), then stalled while
    // the ring went round: descriptor 0 now holds record `n`, claimed with its extent.
    // (Inline records: no wrap paddings take seqs.)
    for i in 0..n {
        assert!(push(r, 0, &[1; 8]), "record {i}");
        assert_eq!(pop(r, 1).unwrap(), [1; 8]);
    }
    let claim = r.try_claim(0, 8, &r.hints[0]).unwrap().unwrap();
    assert_eq!(claim.seq, n);
    let extent = r.desc(0).extent.load(Ordering::SeqCst);
    assert_eq!(seq_of(extent), n);
    // Resuming, it must not take the later lap's extent for the dead record's.
    let _ = r.step_past(pack(0, 0), word(0, PADDING, 0));
    assert_eq!(r.desc(0).extent.load(Ordering::SeqCst), extent);
}

#[test]
fn the_head_cursor_moves_forward_by_at_most_a_lap() {
    let h = Heap::new(256, 8);
    let r = &h;
    let head = || r.ctl().head.0.load(Ordering::SeqCst);
    r.raise_head(3);
    assert_eq!(head(), 3);
    r.raise_head(2);
    assert_eq!(head(), 3, "never back");
    // A caller that stalled for 2^30 records (or a corrupted cursor) moves nothing.
    r.raise_head(3u32.wrapping_add(1 << 30));
    assert_eq!(head(), 3);
    r.raise_head(3u32.wrapping_sub(1 << 30));
    assert_eq!(head(), 3);
}

#[test]
fn a_freer_that_read_the_cursor_long_ago_stops_instead_of_calling_it_corrupt() {
    // 16 units of data, 128 descriptors: records of 3 units fill the capacity after 5,
    // long before their descriptors come round again.
    let h = Heap::new(256, 64);
    let r = &h;
    let stale = r.ctl().free.0.load(Ordering::SeqCst);
    for i in 0..12u8 {
        assert!(push(r, 0, &[i; 48]), "record {i}");
        assert_eq!(pop(r, 1).unwrap(), [i; 48]);
    }
    r.advance_free().unwrap();
    // A freer that read the cursor before all that scans released records over more than
    // the capacity from where it started: the cursor moved, so that is no corruption.
    // Records 0-4 take units 0-15 and a wrap padding (record 5) the last one: the run
    // stops before record 6, which would end 3 units past the capacity from `stale`.
    assert_eq!(r.released_run(stale).unwrap(), (6, 16, true));
}

#[test]
fn a_run_past_the_capacity_from_a_cursor_that_did_not_move_is_corruption() {
    let h = Heap::new(256, 64); // 16 units
    let r = &h;
    // Inline records: released, and not freed yet (every 16 records, or a quarter of the
    // capacity, which these take none of).
    for i in 0..2u8 {
        assert!(push(r, 0, &[i; 8]));
        assert_eq!(pop(r, 1).unwrap(), [i; 8]);
    }
    let f = r.ctl().free.0.load(Ordering::SeqCst);
    assert_eq!(f, 0);
    // Each extent a plausible step from the one before, together past the capacity.
    r.desc(0).extent.store(pack(0, 10), Ordering::SeqCst);
    r.desc(1).extent.store(pack(1, 20), Ordering::SeqCst);
    assert!(r.released_run(f).is_err());
}

#[test]
fn a_cursor_corrupted_ahead_of_the_records_is_an_error_not_a_skip() {
    let h = Heap::new(256, 8);
    let r = &h;
    assert!(push(r, 0, b"one"));
    // The tail cursor three records past the true tail (1): a claim from there would
    // leave records 1-3 unwritten, and consumers waiting at 1 for good.
    r.ctl().tail.0.store(pack(4, 0), Ordering::SeqCst);
    assert!(r.try_claim(1, 8, &r.hints[1]).is_err(), "a fresh producer");
    r.ctl().tail.0.store(pack(1, 0), Ordering::SeqCst);
    // The head cursor past the record waiting at 0: taking from there would skip it.
    r.ctl().head.0.store(2, Ordering::SeqCst);
    assert!(r.try_take(2, &r.take_hints[2]).is_err(), "a fresh consumer");
    r.ctl().head.0.store(0, Ordering::SeqCst);
    assert_eq!(pop(r, 2).unwrap(), b"one");
}
