//! The ring protocol over a raw region: claim, publish, take, release, recover.
//!
//! Written against `(ptr, len)` only, so the same code runs on a heap buffer (unit tests,
//! Miri, loom) and on a shared segment. The protocol is described in `README.md` beside this
//! file. Every value read from the region is checked before it is used as a length or offset.
//!
//! This file holds the region's layout, the record states and the accessors; the steps
//! are in `raw/write.rs` (claim, publish, cancel), `raw/read.rs` (take, release, free) and
//! `raw/recover.rs` (dead writers and readers).

use std::ptr::NonNull;

use crate::error::{corrupted, Corrupted, OpenError};
use crate::primitive::{spin_hint, AtomicU32, AtomicU64, Ordering};
use crate::waiter::EventCount;

/// Payloads start on this boundary; record sizes are rounded up to it.
pub(crate) const UNIT: usize = 16;
const RING_MAGIC: u32 = 0x5249_4E47; // "RING"

// Record states (bits 24..32 of a claim word).
pub(crate) const FREE: u32 = 0;
pub(crate) const WRITING: u32 = 1;
pub(crate) const READY: u32 = 2;
pub(crate) const READING: u32 = 3;
pub(crate) const DONE: u32 = 4;
pub(crate) const PADDING: u32 = 5;

/// A claim word: `seq:32 | state:8 | owner:24`.
#[inline]
pub(crate) fn word(seq: u32, state: u32, owner: u32) -> u64 {
    (seq as u64) << 32 | (state as u64) << 24 | (owner as u64 & 0xFF_FFFF)
}
#[inline]
pub(crate) fn seq_of(w: u64) -> u32 {
    (w >> 32) as u32
}
#[inline]
pub(crate) fn state_of(w: u64) -> u32 {
    ((w >> 24) & 0xFF) as u32
}
#[inline]
pub(crate) fn owner_of(w: u64) -> u32 {
    (w & 0xFF_FFFF) as u32
}
/// A cursor or extent: `seq:32 | pos:32` (pos in units, wrapping).
#[inline]
fn pack(hi: u32, lo: u32) -> u64 {
    (hi as u64) << 32 | lo as u64
}
#[inline]
fn lo(w: u64) -> u32 {
    w as u32
}

/// Retries before a non-blocking call gives up. Each failed retry means another participant
/// made progress or is mid-step; a corrupted region can also make retries fail forever, and
/// this bound turns that into an error or a "try again later" instead of a hang.
const MAX_RETRIES: u32 = 1 << 12;

/// Consumers move the free cursor every `free_batch` released records (see `release`), so
/// that a producer blocked on a full ring finds room in batches; `free_batch` is
/// `(maxsize / FREE_BATCH_DIV).clamp(1, FREE_BATCH_MAX)`.
const FREE_BATCH_DIV: usize = 4;
/// The largest `free_batch`, whatever the maxsize.
const FREE_BATCH_MAX: usize = 32;

#[inline]
pub(crate) fn units_for(len: usize) -> usize {
    len.div_ceil(UNIT)
}

/// Records of at most this many bytes live inside their descriptor, not in the data
/// area: producer and consumer then share one cache line per record instead of two.
pub(crate) const INLINE: usize = 32;

/// Descriptors beyond `maxsize` (see `Layout::new`).
pub(crate) const SPARE_DESC: usize = 4;

/// Units of the data area a claim of `len` bytes takes (0 when it fits inline).
#[inline]
fn claim_units(len: usize) -> usize {
    if len <= INLINE {
        0
    } else {
        units_for(len)
    }
}

#[repr(C, align(64))]
struct Line<T>(T);

/// The ring's control block, at offset 0 of its region.
#[repr(C)]
struct Control {
    magic: Line<AtomicU32>,
    cap_units: AtomicU32,
    n_desc: AtomicU32,
    maxsize: AtomicU32,
    slots: AtomicU32,
    /// `seq:32 | pos:32` of a record every record before which is claimed, and where it
    /// starts: the next record to claim, or a few records behind it (producers move it
    /// every `free_batch` claims; see "Cursors" in `README.md`).
    tail: Line<AtomicU64>,
    /// Seq of a record every record before which is taken (or passed, for a padding):
    /// the next record to take, or a few behind it, as `tail`.
    head: Line<AtomicU32>,
    /// `seq:32 | pos:32` of the oldest record whose space is not yet released.
    free: Line<AtomicU64>,
    /// A recent value of `free`, for producers: it changes once per lap of the ring
    /// rather than once per record, so producers do not pull `free`'s line from the
    /// consumers on every claim. Never ahead of `free`, so it can only understate room.
    free_seen: Line<AtomicU64>,
    not_empty: Line<EventCount>,
    not_full: Line<EventCount>,
    /// Bumped whenever a handle closes; waiters then re-check who is present.
    closes: Line<AtomicU32>,
    /// Bit 0: a producer handle was ever opened; bit 1: a consumer handle was; bit 2: a
    /// process registered to publish with light stores (`fence::publish`).
    ever: AtomicU32,
    /// Padding records between head and tail (cancelled, wrap or abandoned), so that
    /// `len` counts only real records.
    paddings: AtomicU32,
    /// Process words of dead processes whose slots were reused, summed until the layer
    /// above adopts them (`Ring::adopt_dead_words`).
    orphaned: AtomicU32,
    /// Words for the layer above (mp-queue keeps its flavour tag and task counts here).
    /// The ring never reads them.
    user: Line<[AtomicU32; USER_WORDS]>,
}

/// How many [`RawRing::user`] words a ring carries.
pub(crate) const USER_WORDS: usize = 16;

/// One record's descriptor.
#[repr(C, align(64))]
struct Desc {
    /// `seq | state | owner`: who may touch the record, for which lap.
    claim: AtomicU64,
    /// `seq:32 | end:32`: where the record's space ends (valid when `seq` matches).
    extent: AtomicU64,
    /// `start:32 | len:32`: payload start (units, wrapping) and exact length in bytes.
    data: AtomicU64,
    /// Unused: places `inline` at offset 32, 16-byte aligned.
    _spare: AtomicU64,
    /// The payload of a record claimed with at most [`INLINE`] bytes (its extent is then
    /// empty). Written and read through raw pointers under the claim protocol, like the
    /// data area; 16-byte aligned, as archives need.
    inline: std::cell::UnsafeCell<[u8; INLINE]>,
}

/// A participating process: its owner word (pid and start time, as the sync primitives
/// write them; 0 when free; with `RECLAIMING` while a process reclaims it), and its word
/// for the layer above (`Ring::process_word`).
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) id: AtomicU64,
    pub(crate) user: AtomicU32,
}

/// Sizes and offsets of a ring region, computed once from the options.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) cap_units: u32,
    pub(crate) n_desc: u32,
    pub(crate) maxsize: u32,
    pub(crate) slots: u32,
    /// Records a consumer releases before it moves the free cursor (see `release`).
    pub(crate) free_batch: u32,
    slots_off: usize,
    desc_off: usize,
    data_off: usize,
    pub(crate) total: usize,
}

fn align64(n: usize) -> usize {
    (n + 63) & !63
}

impl Layout {
    /// `capacity` in bytes (rounded up to a power of two), `maxsize` in records.
    pub(crate) fn new(capacity: usize, maxsize: usize, slots: usize) -> Result<Layout, OpenError> {
        if capacity == 0 || capacity > 1 << 34 {
            return Err(OpenError::InvalidConfig(
                "capacity must be between 1 byte and 16 GiB",
            ));
        }
        if maxsize == 0 || maxsize > 1 << 24 {
            return Err(OpenError::InvalidConfig(
                "maxsize must be between 1 and 16777216",
            ));
        }
        if slots == 0 || slots > 4096 {
            return Err(OpenError::InvalidConfig("slots must be between 1 and 4096"));
        }
        let cap_units = units_for(capacity).next_power_of_two().max(4);
        // Spare descriptors: two for the at most two wrap paddings in flight, and at least
        // two more for cancelled reservations, which hold a descriptor but not an item
        // place until the head passes them (see `pads_leave_room`).
        let n_desc = (maxsize + SPARE_DESC).next_power_of_two();
        let slots_off = align64(std::mem::size_of::<Control>());
        let desc_off = align64(slots_off + slots * std::mem::size_of::<Slot>());
        let data_off = align64(desc_off + n_desc * std::mem::size_of::<Desc>());
        Ok(Layout {
            cap_units: cap_units as u32,
            n_desc: n_desc as u32,
            maxsize: maxsize as u32,
            slots: slots as u32,
            free_batch: (maxsize / FREE_BATCH_DIV).clamp(1, FREE_BATCH_MAX) as u32,
            slots_off,
            desc_off,
            data_off,
            total: data_off + cap_units * UNIT,
        })
    }

    pub(crate) fn capacity(&self) -> usize {
        self.cap_units as usize * UNIT
    }
}

/// Where one handle expects the next record it will claim (a producer: `seq:32 | pos:32`)
/// or take (a consumer: `seq` in the high half) to be. Kept in the handle, so that a
/// participant working alone finds its place without the shared cursor, which it moves
/// only every few records (see "Cursors" in `README.md`).
///
/// Only a guess, never trusted: every value it can hold is at or behind the true place
/// (it is set only to a place this handle reached), the protocol starts from it only when
/// it is less than a lap ahead of the shared cursor (`RawRing::start_from`), and walks
/// forward over the descriptors from there. Seqs wrap at 2^32, so a hint from long ago (a
/// fresh one is 0, an idle handle's may be billions of records old) cannot be compared
/// with the cursor, and is not used.
#[derive(Debug, Default)]
pub(crate) struct Hint(AtomicU64);

impl Hint {
    #[inline]
    fn get(&self) -> u64 {
        // SYNC: a handle-local guess, checked against the descriptors before any use.
        self.0.load(Ordering::Relaxed)
    }
    #[inline]
    fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed)
    }
}

/// The states of a record a producer may start after, or walk past: claimed in this lap.
fn claimed(st: u32) -> bool {
    st != FREE
}

/// The states of a record taken by a consumer: being read, or released.
fn taken(st: u32) -> bool {
    matches!(st, READING | DONE)
}

/// The states of a record a consumer may start after: taken, or a padding (one behind a
/// place to take from has been passed).
fn taken_or_passed(st: u32) -> bool {
    taken(st) || st == PADDING
}

/// The later of two places `seq:32 | pos:32`, by `seq` (wrapping); `a` when they tie.
#[inline]
fn later(a: u64, b: u64) -> u64 {
    if (seq_of(b).wrapping_sub(seq_of(a)) as i32) > 0 {
        b
    } else {
        a
    }
}

/// The later of two seqs (wrapping).
#[inline]
fn later_seq(a: u32, b: u32) -> u32 {
    if (a.wrapping_sub(b) as i32) > 0 {
        a
    } else {
        b
    }
}

/// What `try_take` found at the head.
pub(crate) enum Taken {
    Record(ReadClaim),
    /// A record is ready at the head (only `try_peek` answers this; it takes nothing).
    Ready,
    Empty,
    /// The head record is still being written by `owner`.
    Busy {
        seq: u32,
        word: u64,
    },
}

/// A claimed region to write, `len` bytes long: inside the descriptor when `inline`, else
/// `off` bytes into the data area.
#[derive(Debug)]
pub(crate) struct WriteClaim {
    pub(crate) seq: u32,
    pub(crate) off: usize,
    pub(crate) inline: bool,
    pub(crate) len: usize,
    pub(crate) owner: u32,
}

/// A taken record to read, placed as in [`WriteClaim`].
#[derive(Debug)]
pub(crate) struct ReadClaim {
    pub(crate) seq: u32,
    pub(crate) off: usize,
    pub(crate) inline: bool,
    pub(crate) len: usize,
}

/// A view of a ring region. Holds no ownership of the memory.
#[derive(Debug)]
pub(crate) struct RawRing {
    base: NonNull<u8>,
    lay: Layout,
}

// SAFETY: the region is only accessed through atomics and the claim protocol, which gives
// each payload byte range one writer at a time.
unsafe impl Send for RawRing {}
// SAFETY: as above.
unsafe impl Sync for RawRing {}

impl RawRing {
    /// Builds a fresh ring in `base[..lay.total]`.
    ///
    /// # Safety
    /// `base` must be 64-byte aligned, valid for reads and writes of `lay.total` bytes for
    /// as long as any `RawRing` over it is used, and not in use by anyone else yet.
    pub(crate) unsafe fn init(base: NonNull<u8>, lay: Layout) -> RawRing {
        let p = base.as_ptr();
        // SAFETY: the caller guarantees `lay.total` writable, aligned bytes; every write
        // below stays inside the offsets `Layout::new` computed from that total.
        unsafe {
            p.write_bytes(0, lay.data_off);
            let c = p as *mut Control;
            c.write(Control {
                magic: Line(AtomicU32::new(RING_MAGIC)),
                cap_units: AtomicU32::new(lay.cap_units),
                n_desc: AtomicU32::new(lay.n_desc),
                maxsize: AtomicU32::new(lay.maxsize),
                slots: AtomicU32::new(lay.slots),
                tail: Line(AtomicU64::new(0)),
                head: Line(AtomicU32::new(0)),
                free: Line(AtomicU64::new(0)),
                free_seen: Line(AtomicU64::new(0)),
                not_empty: Line(EventCount::new()),
                not_full: Line(EventCount::new()),
                closes: Line(AtomicU32::new(0)),
                ever: AtomicU32::new(0),
                paddings: AtomicU32::new(0),
                orphaned: AtomicU32::new(0),
                user: Line(std::array::from_fn(|_| AtomicU32::new(0))),
            });
            for i in 0..lay.slots as usize {
                let s = p.add(lay.slots_off).cast::<Slot>().add(i);
                s.write(Slot {
                    id: AtomicU64::new(0),
                    user: AtomicU32::new(0),
                });
            }
            for i in 0..lay.n_desc {
                let d = p.add(lay.desc_off).cast::<Desc>().add(i as usize);
                d.write(Desc {
                    claim: AtomicU64::new(word(i, FREE, 0)),
                    extent: AtomicU64::new(pack(i.wrapping_sub(1), 0)),
                    data: AtomicU64::new(0),
                    _spare: AtomicU64::new(0),
                    inline: std::cell::UnsafeCell::new([0; INLINE]),
                });
            }
        }
        RawRing { base, lay }
    }

    /// Attaches to a ring another process built, checking its layout against `len`.
    ///
    /// # Safety
    /// `base` must be 64-byte aligned and valid for reads and writes of `len` bytes for as
    /// long as the returned `RawRing` is used.
    pub(crate) unsafe fn attach(base: NonNull<u8>, len: usize) -> Result<RawRing, OpenError> {
        if len < std::mem::size_of::<Control>() {
            return Err(OpenError::TooSmall {
                size: len,
                need: std::mem::size_of::<Control>(),
            });
        }
        // SAFETY: at least size_of::<Control>() aligned bytes; Control is all atomics.
        let c = unsafe { &*(base.as_ptr() as *const Control) };
        if c.magic.0.load(Ordering::Acquire) != RING_MAGIC {
            return Err(OpenError::Corrupted(corrupted(
                "ring magic number is wrong",
            )));
        }
        let cap = c.cap_units.load(Ordering::Relaxed) as usize;
        let n_desc = c.n_desc.load(Ordering::Relaxed) as usize;
        let maxsize = c.maxsize.load(Ordering::Relaxed) as usize;
        let slots = c.slots.load(Ordering::Relaxed) as usize;
        let bad = || OpenError::Corrupted(corrupted("ring layout fields are inconsistent"));
        if !cap.is_power_of_two() || !n_desc.is_power_of_two() || maxsize + SPARE_DESC > n_desc {
            return Err(bad());
        }
        let lay = Layout::new(cap * UNIT, maxsize, slots).map_err(|_| bad())?;
        if lay.n_desc as usize != n_desc || lay.cap_units as usize != cap {
            return Err(bad());
        }
        if lay.total > len {
            return Err(OpenError::TooSmall {
                size: len,
                need: lay.total,
            });
        }
        Ok(RawRing { base, lay })
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.lay
    }

    fn ctl(&self) -> &Control {
        // SAFETY: `init`/`attach` checked the region holds a Control at offset 0.
        unsafe { &*(self.base.as_ptr() as *const Control) }
    }

    fn desc(&self, seq: u32) -> &Desc {
        let i = (seq & (self.lay.n_desc - 1)) as usize;
        // SAFETY: i < n_desc, and the descriptor array lies inside the region.
        unsafe {
            &*self
                .base
                .as_ptr()
                .add(self.lay.desc_off)
                .cast::<Desc>()
                .add(i)
        }
    }

    pub(crate) fn slot(&self, i: u32) -> Option<&Slot> {
        if i >= self.lay.slots {
            return None;
        }
        // SAFETY: i < slots, and the slot array lies inside the region.
        Some(unsafe {
            &*self
                .base
                .as_ptr()
                .add(self.lay.slots_off)
                .cast::<Slot>()
                .add(i as usize)
        })
    }

    /// Where record `seq`'s payload lies: in its descriptor, or `off` bytes into the data
    /// area.
    pub(crate) fn payload_ptr(&self, seq: u32, inline: bool, off: usize) -> *mut u8 {
        if inline {
            self.desc(seq).inline.get().cast()
        } else {
            self.data_ptr(off)
        }
    }

    /// Asks the CPU to fetch, for writing, the lines the producer's next record will
    /// likely touch: the next descriptor, and the data right after `claim`'s payload.
    /// Both were last touched by a consumer, on the other core, so each costs a line
    /// transfer; fetched now, it overlaps this record's copy. Ring SPSC 1 KiB went
    /// 41.5-43.7 -> 37.5-39.5 ns (criterion, alternating binaries, medians of 4 and 5
    /// rounds), 8 B unchanged.
    #[inline(always)]
    pub(crate) fn prefetch_next(&self, claim: &WriteClaim) {
        #[cfg(all(target_arch = "x86_64", not(miri)))]
        if !has_prefetchw() {
            return;
        }
        let d = std::ptr::from_ref(self.desc(claim.seq.wrapping_add(1))).cast::<u8>();
        prefetch_write(d);
        if !claim.inline {
            // The first line after this payload's last one (records start 16-byte
            // aligned, so the next one may begin inside a line this copy writes anyway);
            // the capacity is a power of two.
            let next = (claim.off + claim.len).next_multiple_of(64) & (self.lay.capacity() - 1);
            prefetch_write(self.data_ptr(next));
        }
    }

    /// Pointer to `off` bytes into the data area.
    fn data_ptr(&self, off: usize) -> *mut u8 {
        debug_assert!(off <= self.lay.capacity());
        // SAFETY: callers pass offsets validated against the capacity.
        unsafe { self.base.as_ptr().add(self.lay.data_off + off) }
    }

    pub(crate) fn not_empty(&self) -> &EventCount {
        &self.ctl().not_empty.0
    }
    pub(crate) fn not_full(&self) -> &EventCount {
        &self.ctl().not_full.0
    }
    pub(crate) fn closes(&self) -> &AtomicU32 {
        &self.ctl().closes.0
    }
    /// True if some process on this ring may publish with light stores: a sleeper whose
    /// `membarrier` fails must then nap briefly (`EventCount::prepare_heavy`).
    pub(crate) fn light_peers(&self) -> bool {
        self.ctl().ever.load(Ordering::SeqCst) & super::EVER_LIGHT != 0
    }

    pub(crate) fn ever(&self) -> &AtomicU32 {
        &self.ctl().ever
    }
    pub(crate) fn orphaned(&self) -> &AtomicU32 {
        &self.ctl().orphaned
    }

    /// The words reserved for the layer above; zero in a fresh ring.
    pub(crate) fn user(&self) -> &[AtomicU32; USER_WORDS] {
        &self.ctl().user.0
    }

    /// Writes a record's `len` field (corruption, for the handles' tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn set_len_for_test(&self, seq: u32, len: u32) {
        let d = self.desc(seq);
        let start = seq_of(d.data.load(Ordering::Relaxed));
        d.data.store(pack(start, len), Ordering::Relaxed);
    }

    /// Records claimed and not yet taken (includes ones still being written).
    pub(crate) fn len(&self) -> usize {
        let h = self.head_now();
        let t = self.tail_now();
        // Paddings may be counted a moment before or after they appear between head and
        // tail; a negative reading (a race, or a process that died mid-update) counts as 0.
        let pads = (self.ctl().paddings.load(Ordering::Relaxed) as i32).max(0);
        let n = (t.wrapping_sub(h) as i32).saturating_sub(pads);
        (n.max(0) as usize).min(self.lay.maxsize as usize)
    }

    /// True when no record has room in items right now, as far as the free cursor
    /// knows: records released since it last moved still count as occupied (see
    /// `release`); call `advance_free` first for an exact answer.
    pub(crate) fn is_full(&self) -> bool {
        let fs = seq_of(self.ctl().free.0.load(Ordering::Acquire));
        let in_items = self.tail_now().wrapping_sub(fs);
        in_items >= self.lay.maxsize && !self.pads_leave_room(in_items)
    }

    /// The first record not yet claimed: the tail cursor lags behind it by up to a few
    /// records (producers move it every `free_batch` claims), so walk the descriptors
    /// from there (or from the free cursor, when that is later).
    pub(crate) fn tail_now(&self) -> u32 {
        let c = self.ctl();
        // SYNC: only where to start; `walk` checks each descriptor on the way.
        let f = c.free.0.load(Ordering::Acquire);
        let t = c.tail.0.load(Ordering::Acquire);
        self.walk(seq_of(later(t, f)), claimed)
    }

    /// The first record not yet taken (nor passed, for a padding): the head cursor lags
    /// behind it as the tail cursor does, so walk from it over taken records.
    pub(crate) fn head_now(&self) -> u32 {
        let c = self.ctl();
        // SYNC: only where to start; `walk` checks each descriptor on the way.
        let f = seq_of(c.free.0.load(Ordering::Acquire));
        let h = c.head.0.load(Ordering::Acquire);
        self.walk(later_seq(h, f), taken)
    }

    /// From `s`, a place every record before which has reached a state `past` accepts,
    /// to the first record that has not in this lap (at most a lap on).
    fn walk(&self, mut s: u32, past: impl Fn(u32) -> bool) -> u32 {
        for _ in 0..self.lay.n_desc {
            // SYNC: pairs with the release stores and CASes that set each state.
            let cur = self.desc(s).claim.load(Ordering::Acquire);
            if seq_of(cur) != s || !past(state_of(cur)) {
                break;
            }
            s = s.wrapping_add(1);
        }
        s
    }

    /// Where a walk starts: `hint` when it is ahead of `cursor` by at most a lap (the
    /// cursor lags the true place by a few records, and a hint is never past it), the
    /// cursor otherwise (a stale, fresh or wrapped hint).
    #[inline]
    fn start_from(&self, hint: u64, cursor: u64) -> u64 {
        let ahead = seq_of(hint).wrapping_sub(seq_of(cursor));
        if ahead != 0 && ahead <= self.lay.n_desc {
            hint
        } else {
            cursor
        }
    }

    /// Checks that record `s - 1` has reached a state `past` accepts in this lap (claimed,
    /// for a place to claim from; taken or passed, for a place to take from), or is already
    /// on a later lap: every record before a place to start from must have. A tail, head or
    /// free cursor corrupted to a place ahead of the records fails here; starting there
    /// would skip records, or leave consumers waiting for records no one will write.
    fn check_start(&self, s: u32, past: impl Fn(u32) -> bool) -> Result<(), Corrupted> {
        let prev = s.wrapping_sub(1);
        let cur = self.desc(prev).claim.load(Ordering::Acquire);
        let cs = seq_of(cur);
        if (cs == prev && past(state_of(cur))) || (cs.wrapping_sub(prev) as i32) > 0 {
            return Ok(());
        }
        Err(corrupted("ring cursor is ahead of the records"))
    }

    /// Moves the head cursor forward to `to`, unless it is there or past it already.
    /// Every record before `to` must be taken or passed. A `to` more than a lap ahead
    /// cannot be true (the cursor lags the true head by a few records): it comes from a
    /// caller stalled for billions of records, or a corrupted cursor, and moves nothing.
    fn raise_head(&self, to: u32) {
        let head = &self.ctl().head.0;
        let mut h = head.load(Ordering::Acquire);
        while to != h && to.wrapping_sub(h) <= self.lay.n_desc {
            // SYNC: the cursor only guides where others start looking; the descriptors
            // carry the records' states.
            match head.compare_exchange_weak(h, to, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => h = now,
            }
        }
    }
}

mod read;
mod recover;
mod write;

#[cfg(test)]
impl RawRing {
    /// For the protocol tests (plain and loom): copies `bytes` into a claimed record of
    /// exactly that length and publishes it.
    fn write_and_publish(&self, c: &WriteClaim, bytes: &[u8]) {
        assert_eq!(c.len, bytes.len());
        // SAFETY: the claim owns its `len` bytes at `off` (or in its descriptor).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.payload_ptr(c.seq, c.inline, c.off),
                bytes.len(),
            )
        };
        self.publish(c, bytes.len());
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, loom))]
mod loom_tests;

/// `prefetchw`: a hint, never a fault, whatever the address. Callers issue it only where
/// the CPU has it (`has_prefetchw`: CPUID `PRFCHW`; every AMD64 CPU, Intel since
/// Broadwell), as Linux does: the compiler's own write prefetch falls back to a read
/// prefetch on the baseline target, which leaves the line shared.
#[inline(always)]
fn prefetch_write(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: a prefetch reads and writes nothing and cannot fault; `prefetch_next`
    // checked that the CPU has the instruction.
    unsafe {
        std::arch::asm!("prefetchw [{0}]", in(reg) p, options(nostack, readonly, preserves_flags));
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = p;
}

/// Whether the CPU has `prefetchw`: 0 not asked yet, 1 no, 2 yes.
#[cfg(all(target_arch = "x86_64", not(miri)))]
static PREFETCHW: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Whether the CPU has `prefetchw` (CPUID 0x8000_0001, ECX bit 8), asked once.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn has_prefetchw() -> bool {
    match PREFETCHW.load(std::sync::atomic::Ordering::Relaxed) {
        0 => ask_prefetchw(),
        k => k == 2,
    }
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[cold]
fn ask_prefetchw() -> bool {
    // The extended leaf is read only when the highest extended leaf reaches it.
    use std::arch::x86_64::__cpuid;
    // SAFETY: CPUID has no preconditions on x86_64 (an `unsafe fn` before Rust 1.87, the
    // workspace's minimum being 1.85).
    #[allow(unused_unsafe)]
    let yes = unsafe {
        __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
    };
    // SYNC: a cache of a constant; any thread may compute it again.
    PREFETCHW.store(
        if yes { 2 } else { 1 },
        std::sync::atomic::Ordering::Relaxed,
    );
    yes
}
