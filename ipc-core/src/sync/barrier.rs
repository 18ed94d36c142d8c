//! `Barrier`: `parties` processes (or threads) meet, then all go on; a dead party breaks it.
//!
//! Mutations happen under a robust internal lock; waiters sleep on an event count and read
//! the generation without the lock. How a generation ended (passed, or broken by `reset`)
//! is kept for the last 8 generations, so a slow waiter still learns its own outcome.

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64 as StdAtomicU64, Ordering as StdOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::BarrierError;
use super::lock::RawLock;
use super::{
    check_owner, kind, my_owner_word, new_segment, owner_alive, Mapped, SharedState, POLL,
};
use crate::error::{corrupted, Corrupted, OpenError};
use crate::liveness::current_pid;
use crate::primitive::{AtomicU32, AtomicU64, Ordering};
use crate::segment::Segment;
use crate::waiter::{deadline_after, EventCount};

const HISTORY: usize = 8;
std::thread_local! {
    /// The barriers whose actions this thread is running, innermost last (an action may
    /// wait on another barrier and be its last arrival): each with its lock held by this
    /// process, so that their own calls from an action are refused, not hung. Kept with
    /// the pid, so that a child forked inside an action waits as any process does.
    static IN_ACTION: std::cell::RefCell<Vec<(u32, BarrierId)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Which barrier a handle is, the same for every mapping of it in a process: its
/// segment's file (device, inode), or this mapping's address if `fstat` failed.
type BarrierId = (u64, u64);

/// Marks a history entry whose generation ended broken.
const BROKEN_BIT: u64 = 1 << 40;

/// The history entry of generation `gen` (never 0: an all-zero entry is "none yet", so a
/// fresh barrier's history names no generation).
fn entry(gen: u32) -> u64 {
    u64::from(gen) + 1
}
const SLOTS_OFFSET: usize = 128;
/// Most parties a barrier accepts.
const MAX_PARTIES: u32 = 1 << 16;

#[repr(C)]
struct RawBarrier {
    lock: RawLock,
    parties: AtomicU32,
    /// Arrivals in the current generation.
    count: AtomicU32,
    /// The current generation (also what waiters watch).
    gen: AtomicU32,
    /// Non-zero: the current generation is broken.
    broken: AtomicU32,
    /// `entry(gen) | BROKEN_BIT?` of recently ended generations, at `gen % HISTORY`.
    history: [AtomicU64; HISTORY],
    ec: EventCount,
}

// SAFETY: repr(C), atomics only.
unsafe impl SharedState for RawBarrier {}

// The party slots follow the state at a fixed offset, 8-byte aligned.
const _: () = assert!(std::mem::size_of::<RawBarrier>() <= SLOTS_OFFSET);
const _: () = assert!(SLOTS_OFFSET % std::mem::align_of::<Slot>() == 0);

#[repr(C)]
struct Slot(AtomicU64);

// SAFETY: repr(C), one atomic; 0 is "free".
unsafe impl SharedState for Slot {}

/// A process-shared barrier (Python's `multiprocessing.Barrier`).
///
/// # A dead party breaks it
/// A process registers as a party with [`register`](Barrier::register) or, implicitly, at
/// its first [`wait`](Barrier::wait) (one slot per process, shared by its threads; when all
/// `parties` slots are taken by live processes, more processes may still wait, untracked).
/// While any process waits, it checks every [`POLL`](super::POLL) whether a registered
/// process other than itself has exited; if one has, the barrier breaks: every waiter, and
/// every later `wait`, gets [`BarrierError::Broken`], until [`reset`](Barrier::reset).
/// So a registered party that dies before it arrives, or while it waits, breaks the
/// barrier instead of hanging the others. A process is tracked only from its `register`
/// or first `wait`: one that may die before its first `wait` should `register` when it
/// starts, or the others wait for it (with no timeout, for good). A party that exits
/// normally while others keep using the barrier should call [`leave`](Barrier::leave)
/// first; `reset` also forgets exited parties, and a newcomer that registers (or first
/// waits) takes over an exited party's slot.
///
/// As in Python, a `wait` that times out breaks the barrier too.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::Barrier;
/// use ipc_core::testing::{fork, reap};
///
/// let b = Barrier::new(2)?;
/// let child = fork(|| b.wait().map_or(1, |_| 0));
/// let index = b.wait()?; // 0 for the first to arrive, 1 for the second
/// assert!(index < 2);
/// assert_eq!(reap(child), Ok(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Barrier {
    raw: Mapped<RawBarrier>,
    parties: u32,
    /// This process's registration as this handle last saw it: `pid << 32 | slot`, or 0.
    /// Keyed by pid so that a forked child registers itself (as `Ring::me` does).
    registered: StdAtomicU64,
    /// This handle's action ([`with_action`](Barrier::with_action)).
    action: Option<Arc<dyn Fn() + Send + Sync>>,
    /// This handle's default timeout ([`with_timeout`](Barrier::with_timeout)).
    timeout: Option<Duration>,
    /// Which barrier this is, for refusing an action's calls to its own barrier.
    id: BarrierId,
}

impl Clone for Barrier {
    fn clone(&self) -> Self {
        Barrier {
            raw: self.raw.clone(),
            parties: self.parties,
            registered: StdAtomicU64::new(self.registered.load(StdOrdering::Relaxed)),
            action: self.action.clone(),
            timeout: self.timeout,
            id: self.id,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

/// Releases the internal lock on drop.
struct Held<'a> {
    lock: &'a RawLock,
    me: u64,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.lock.release_if(self.me);
    }
}

impl Barrier {
    /// A barrier for `parties` (1 to 65536) in a nameless segment.
    ///
    /// ```
    /// let b = ipc_core::sync::Barrier::new(1)?;
    /// assert_eq!(b.wait()?, 0); // one party: passes at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(parties: u32) -> Result<Barrier, OpenError> {
        Self::build(parties, None)
    }

    /// A named barrier (`/{prefix}-{random}`) for unrelated programs.
    ///
    /// ```
    /// use ipc_core::sync::Barrier;
    /// let b = Barrier::create_named("doc-barrier", 3)?;
    /// assert_eq!(Barrier::open_named(b.name().unwrap())?.parties(), 3);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str, parties: u32) -> Result<Barrier, OpenError> {
        Self::build(parties, Some(prefix))
    }

    fn build(parties: u32, prefix: Option<&str>) -> Result<Barrier, OpenError> {
        if parties == 0 || parties > MAX_PARTIES {
            return Err(OpenError::InvalidConfig("parties must be 1 to 65536"));
        }
        let size = SLOTS_OFFSET + parties as usize * std::mem::size_of::<Slot>();
        let seg = new_segment(size, kind::BARRIER, prefix)?;
        let raw: Mapped<RawBarrier> = Mapped::at(Arc::new(seg), 0)?;
        raw.parties.store(parties, Ordering::Relaxed);
        raw.segment().mark_initialized();
        Self::wrap(raw)
    }

    fn attach(seg: Segment) -> Result<Barrier, OpenError> {
        Self::wrap(Mapped::at(Arc::new(seg), 0)?)
    }

    fn wrap(raw: Mapped<RawBarrier>) -> Result<Barrier, OpenError> {
        let parties = raw.parties.load(Ordering::Relaxed);
        let need = SLOTS_OFFSET + parties as usize * std::mem::size_of::<Slot>();
        if parties == 0 || parties > MAX_PARTIES {
            return Err(OpenError::Corrupted(corrupted("barrier party count")));
        }
        if raw.segment().payload_len() < need {
            return Err(OpenError::TooSmall {
                size: raw.segment().payload_len(),
                need,
            });
        }
        let id = match crate::segment::fstat(raw.segment().fd()) {
            Ok(st) => (st.st_dev, st.st_ino),
            Err(_) => (u64::MAX, &*raw as *const RawBarrier as u64),
        };
        Ok(Barrier {
            raw,
            parties,
            registered: StdAtomicU64::new(0),
            action: None,
            timeout: None,
            id,
        })
    }

    /// This handle with an action (Python's `Barrier(parties, action=...)`): when this
    /// handle is the last party to arrive, it runs `action` before any party is let go.
    /// The action belongs to the handle, not to the shared barrier: clones and forked
    /// children keep it; a handle opened by name or handle has none until given one, so
    /// give every process's handle the same action (Python pickles it to each). An
    /// action that panics breaks the barrier: the other parties get
    /// [`BarrierError::Broken`], and the panic goes on in the party that ran it.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    /// use ipc_core::sync::Barrier;
    ///
    /// let ran = Arc::new(AtomicU32::new(0));
    /// let counter = ran.clone();
    /// let b = Barrier::new(1)?.with_action(move || {
    ///     counter.fetch_add(1, Ordering::SeqCst);
    /// });
    /// b.wait()?;
    /// b.wait()?;
    /// assert_eq!(ran.load(Ordering::SeqCst), 2); // once per pass
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_action(mut self, action: impl Fn() + Send + Sync + 'static) -> Barrier {
        self.action = Some(Arc::new(action));
        self
    }

    /// This handle with a default timeout for [`wait`](Self::wait) (Python's
    /// `Barrier(parties, timeout=...)`); [`wait_timeout`](Self::wait_timeout) still
    /// takes its own. Like the action, it belongs to the handle and its clones.
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_core::sync::{Barrier, BarrierError};
    ///
    /// let b = Barrier::new(2)?.with_timeout(Duration::from_millis(5));
    /// assert_eq!(b.wait(), Err(BarrierError::Broken)); // the other party never came
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Barrier {
        self.timeout = Some(timeout);
        self
    }

    fn segment(&self) -> &Segment {
        self.raw.segment()
    }

    fn slot(&self, i: u32) -> &AtomicU64 {
        debug_assert!(i < self.parties);
        let p = self.raw.segment().payload_ptr();
        // SAFETY: `i < parties` and the payload holds `parties` slots after SLOTS_OFFSET
        // (checked in `wrap`); 8-byte aligned; an atomic is valid for any bits.
        unsafe { &*(p.add(SLOTS_OFFSET + i as usize * 8) as *const AtomicU64) }
    }

    fn hold(&self) -> Result<Held<'_>, BarrierError> {
        let me = (current_pid(), self.id);
        if IN_ACTION.with_borrow(|running| running.contains(&me)) {
            // This thread runs an action, with the lock held by this process: taking it
            // again would wait for good.
            return Err(BarrierError::InAction);
        }
        let me = my_owner_word();
        self.raw.lock.lock_blocking(me)?;
        let held = Held {
            lock: &self.raw.lock,
            me,
        };
        // With the lock held, no live holder is halfway through an end: one found so was
        // abandoned by a holder that died (or written by corruption). Two loads.
        self.finish_ending();
        Ok(held)
    }

    /// Under the lock: finishes the end of the current generation if a holder that died
    /// left it halfway. Every change of
    /// more than one word (the last arrival's pass, `reset`) writes the generation's
    /// history entry first and moves `gen` last, so an entry for the current generation
    /// means it had begun; single-word changes (an arrival's count, `broken`) need
    /// nothing.
    fn finish_ending(&self) {
        let r = &*self.raw;
        let gen = r.gen.load(Ordering::SeqCst);
        if !self.half_ended(gen) {
            return;
        }
        r.count.store(0, Ordering::SeqCst);
        r.broken.store(0, Ordering::SeqCst);
        // SYNC: as in `wait_until`: the history entry is visible before the new gen.
        r.gen.store(gen.wrapping_add(1), Ordering::SeqCst);
        r.ec.notify(u32::MAX);
    }

    /// The number of parties needed to pass.
    ///
    /// ```
    /// assert_eq!(ipc_core::sync::Barrier::new(4)?.parties(), 4);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn parties(&self) -> u32 {
        self.parties
    }

    /// How many parties wait in the current generation (0 when broken).
    ///
    /// ```
    /// assert_eq!(ipc_core::sync::Barrier::new(2)?.n_waiting(), 0);
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn n_waiting(&self) -> u32 {
        if self.broken() {
            0
        } else {
            self.raw.count.load(Ordering::SeqCst)
        }
    }

    /// True while the barrier is broken.
    ///
    /// ```
    /// let b = ipc_core::sync::Barrier::new(2)?;
    /// b.abort()?;
    /// assert!(b.broken());
    /// b.reset()?;
    /// assert!(!b.broken());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn broken(&self) -> bool {
        self.raw.broken.load(Ordering::SeqCst) != 0
    }

    /// Registers the calling process as a party, so that its death breaks the barrier even
    /// before its first `wait`. A slot whose process has exited is taken over: the
    /// newcomer stands in for it. Returns `false` if every slot is held by a live process.
    ///
    /// ```
    /// let b = ipc_core::sync::Barrier::new(2)?;
    /// assert!(b.register()?);
    /// assert!(b.register()?); // idempotent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn register(&self) -> Result<bool, BarrierError> {
        let me = my_owner_word();
        if self.still_registered(me) {
            return Ok(true);
        }
        loop {
            let mut free = None;
            for i in 0..self.parties {
                let w = self.slot(i).load(Ordering::SeqCst);
                if w == me {
                    self.remember(i);
                    return Ok(true);
                }
                if w == 0 && free.is_none() {
                    free = Some(i);
                }
            }
            // No free slot: take one whose process has exited (it passed and left without
            // `leave`, or died), so a newcomer replaces it instead of waiting untracked
            // while the others find that party dead and break the barrier.
            let Some((i, was)) = free.map(|i| (i, 0)).or_else(|| self.dead_slot()) else {
                return Ok(false);
            };
            // SYNC: SeqCst publishes the registration to the SeqCst slot loads in
            // `party_died` and `reset`. Only the word itself is published, and a waiter
            // re-reads the slots every POLL, so one that misses it sees it at its next check.
            if self
                .slot(i)
                .compare_exchange(was, me, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.remember(i);
                return Ok(true);
            }
            // Lost a race for the slot: look again.
        }
    }

    /// A slot held by a process that has exited, with the word it holds; none while the
    /// current generation has arrivals, since one of them may be the dead party's (its
    /// death must then break the barrier, not be hidden by a stand-in). A dead process
    /// arrives no more, so a count of 0 seen after its death means it passed, if at all, in
    /// an earlier generation.
    fn dead_slot(&self) -> Option<(u32, u64)> {
        // SYNC: SeqCst, after the slot loads of `register`'s scan; pairs with the SeqCst
        // updates of `count` under the barrier's lock.
        if self.raw.count.load(Ordering::SeqCst) != 0 {
            return None;
        }
        (0..self.parties).find_map(|i| {
            // SYNC: as the loads in `party_died`.
            let w = self.slot(i).load(Ordering::SeqCst);
            (w != 0 && check_owner(w).is_ok() && !owner_alive(w)).then_some((i, w))
        })
    }

    /// True if this handle's remembered slot still holds `me` (one load instead of a scan;
    /// `leave`, through any handle, or a child's fork make it false).
    fn still_registered(&self, me: u64) -> bool {
        // Relaxed: a process-local cache, checked against the slot itself below.
        let r = self.registered.load(StdOrdering::Relaxed);
        let (pid, i) = ((r >> 32) as u32, r as u32);
        r != 0 && pid == current_pid() && i < self.parties && {
            // SYNC: pairs with the SeqCst CAS that registered us (or a `leave` or `reset`
            // that cleared the slot since).
            self.slot(i).load(Ordering::SeqCst) == me
        }
    }

    fn remember(&self, slot: u32) {
        let r = u64::from(current_pid()) << 32 | u64::from(slot);
        self.registered.store(r, StdOrdering::Relaxed);
    }

    /// Deregisters the calling process (before it exits normally while others go on).
    ///
    /// ```
    /// let b = ipc_core::sync::Barrier::new(2)?;
    /// b.register()?;
    /// b.leave();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn leave(&self) {
        self.registered.store(0, StdOrdering::Relaxed);
        let me = my_owner_word();
        for i in 0..self.parties {
            let _ = self
                .slot(i)
                .compare_exchange(me, 0, Ordering::SeqCst, Ordering::SeqCst);
        }
    }

    /// True if a registered process other than this one has exited.
    fn party_died(&self) -> Result<bool, Corrupted> {
        let me = my_owner_word();
        for i in 0..self.parties {
            // SYNC: pairs with the registering CAS in `register` (see there).
            let w = self.slot(i).load(Ordering::SeqCst);
            if w == 0 || w == me {
                continue;
            }
            check_owner(w)?;
            if !owner_alive(w) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Waits for all parties; returns this party's arrival index (`0..parties`). Waits
    /// at most the handle's default timeout, if it has one
    /// ([`with_timeout`](Self::with_timeout)), as [`wait_timeout`](Self::wait_timeout).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Barrier, BarrierError};
    ///
    /// let b = Barrier::new(2)?;
    /// let (x, y) = std::thread::scope(|s| {
    ///     let other = s.spawn(|| b.wait()); // threads count as parties too
    ///     (b.wait(), other.join().unwrap())
    /// });
    /// assert_eq!(x? + y?, 1); // arrival indexes 0 and 1
    /// b.abort()?;
    /// assert_eq!(b.wait(), Err(BarrierError::Broken));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait(&self) -> Result<u32, BarrierError> {
        self.wait_until(self.timeout.and_then(deadline_after))
    }

    /// As [`wait`](Self::wait) for at most `timeout`; a timeout breaks the barrier (as in
    /// Python) and returns [`BarrierError::Broken`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_core::sync::{Barrier, BarrierError};
    /// let b = Barrier::new(2)?;
    /// assert_eq!(b.wait_timeout(Duration::from_millis(5)), Err(BarrierError::Broken));
    /// assert!(b.broken());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<u32, BarrierError> {
        self.wait_until(deadline_after(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<u32, BarrierError> {
        self.register()?;
        let (gen, index) = {
            let held = self.hold()?;
            let r = &*self.raw;
            // Under the lock, which orders it against every store of `broken`.
            if r.broken.load(Ordering::SeqCst) != 0 {
                return Err(BarrierError::Broken);
            }
            let gen = r.gen.load(Ordering::SeqCst);
            let index = r.count.load(Ordering::SeqCst);
            if index >= self.parties {
                return Err(corrupted("barrier arrivals exceed its parties").into());
            }
            if index + 1 == self.parties {
                if let Some(action) = &self.action {
                    // Under the lock, before anyone is let go, as in Python. A panic
                    // breaks the barrier, then goes on in this party.
                    IN_ACTION.with_borrow_mut(|running| running.push((current_pid(), self.id)));
                    let ran = catch_unwind(AssertUnwindSafe(|| action()));
                    IN_ACTION.with_borrow_mut(|running| running.pop());
                    if let Err(panic) = ran {
                        // SYNC: as in `break_gen`, under the lock, before `notify`.
                        r.broken.store(1, Ordering::SeqCst);
                        drop(held);
                        r.ec.notify(u32::MAX);
                        resume_unwind(panic);
                    }
                }
                r.history[gen as usize % HISTORY].store(entry(gen), Ordering::SeqCst);
                r.count.store(0, Ordering::SeqCst);
                // SYNC: SeqCst publishes the new generation (and the history entry before
                // it) to waiters' SeqCst loads, and orders it before `notify`'s check.
                r.gen.store(gen.wrapping_add(1), Ordering::SeqCst);
                drop(held);
                r.ec.notify(u32::MAX);
                return Ok(index);
            }
            r.count.store(index + 1, Ordering::SeqCst);
            (gen, index)
        };
        self.sleep(gen, deadline)?;
        Ok(index)
    }

    /// Sleeps until generation `gen` ends; `Ok` if it passed.
    fn sleep(&self, gen: u32, deadline: Option<Instant>) -> Result<(), BarrierError> {
        let r = &*self.raw;
        let mut checked = Instant::now();
        loop {
            let token = r.ec.prepare();
            if r.gen.load(Ordering::SeqCst) != gen {
                r.ec.cancel(token);
                let h = r.history[gen as usize % HISTORY].load(Ordering::SeqCst);
                return if h == entry(gen) | BROKEN_BIT {
                    Err(BarrierError::Broken)
                } else {
                    Ok(())
                };
            }
            // SYNC: read without the lock, after `prepare`: pairs with the SeqCst stores of
            // `broken` in `break_gen` and `abort`, each followed by `notify` (the event
            // count's handshake): either we see the flag here, or the notifier sees us
            // waiting and wakes us.
            if r.broken.load(Ordering::SeqCst) != 0 {
                r.ec.cancel(token);
                // A `broken` stored after our generation passed belongs to the next one:
                // `gen` moved before it (both SeqCst), so look again and answer from the
                // history if it did.
                if r.gen.load(Ordering::SeqCst) != gen {
                    continue;
                }
                return Err(BarrierError::Broken);
            }
            let now = Instant::now();
            let timed_out = deadline.is_some_and(|d| now >= d);
            let due = now.duration_since(checked) >= POLL;
            if due && self.half_ended(gen) {
                // Whoever ends the generation may have died halfway: holding the lock
                // finishes the end (`hold` runs `finish_ending`), once a live holder is
                // done. `checked` is left as it was: if `gen` has still not moved, the
                // liveness check below runs on the next turn.
                r.ec.cancel(token);
                drop(self.hold()?);
                continue;
            }
            let died = due && {
                checked = now;
                match self.party_died() {
                    Ok(died) => died,
                    Err(e) => {
                        r.ec.cancel(token); // not left counted as a sleeper
                        return Err(e.into());
                    }
                }
            };
            if timed_out || died {
                r.ec.cancel(token);
                self.break_gen(gen)?;
                continue; // report whatever the generation's outcome now is
            }
            // At most POLL: the parties' liveness is due again by then.
            let _ = r.ec.nap(token, deadline);
        }
    }

    /// True if generation `gen`'s end has begun (its history entry is written) but `gen`
    /// has not moved on: a holder of the lock is halfway through it, or died there.
    fn half_ended(&self, gen: u32) -> bool {
        let r = &*self.raw;
        // SYNC: pairs with the SeqCst stores of the history entry and then `gen` in an
        // ending: an entry seen here with `gen` unmoved is an ending begun, not finished.
        let h = r.history[gen as usize % HISTORY].load(Ordering::SeqCst);
        h & !BROKEN_BIT == entry(gen) && r.gen.load(Ordering::SeqCst) == gen
    }

    /// Breaks generation `gen` if it is still current.
    fn break_gen(&self, gen: u32) -> Result<(), BarrierError> {
        let held = self.hold()?;
        let r = &*self.raw;
        if r.gen.load(Ordering::SeqCst) == gen {
            // SYNC: SeqCst, before `notify`: pairs with the lock-free load in `sleep`.
            r.broken.store(1, Ordering::SeqCst);
        }
        drop(held);
        r.ec.notify(u32::MAX);
        Ok(())
    }

    /// Breaks the barrier: waiters and later `wait`s get [`BarrierError::Broken`] until
    /// [`reset`](Self::reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::sync::{Barrier, BarrierError};
    ///
    /// let b = Barrier::new(2)?;
    /// let waited = std::thread::scope(|s| {
    ///     let waiter = s.spawn(|| b.wait());
    ///     while b.n_waiting() == 0 {
    ///         std::thread::yield_now();
    ///     }
    ///     b.abort().unwrap();
    ///     waiter.join().unwrap()
    /// });
    /// assert_eq!(waited, Err(BarrierError::Broken)); // the waiter is let go, broken
    /// assert_eq!(b.wait(), Err(BarrierError::Broken)); // and so is every later wait
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(&self) -> Result<(), BarrierError> {
        let held = self.hold()?;
        // SYNC: SeqCst, before `notify`: pairs with the lock-free load in `sleep`.
        self.raw.broken.store(1, Ordering::SeqCst);
        drop(held);
        self.raw.ec.notify(u32::MAX);
        Ok(())
    }

    /// Returns the barrier to its initial state: current waiters get
    /// [`BarrierError::Broken`]; registrations of exited processes are forgotten.
    ///
    /// ```
    /// let b = ipc_core::sync::Barrier::new(1)?;
    /// b.reset()?;
    /// assert_eq!(b.wait()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reset(&self) -> Result<(), BarrierError> {
        let held = self.hold()?;
        let r = &*self.raw;
        for i in 0..self.parties {
            let w = self.slot(i).load(Ordering::SeqCst);
            if w != 0 && (check_owner(w).is_err() || !owner_alive(w)) {
                let _ = self
                    .slot(i)
                    .compare_exchange(w, 0, Ordering::SeqCst, Ordering::SeqCst);
            }
        }
        let gen = r.gen.load(Ordering::SeqCst);
        if r.broken.load(Ordering::SeqCst) != 0 || r.count.load(Ordering::SeqCst) != 0 {
            r.history[gen as usize % HISTORY].store(entry(gen) | BROKEN_BIT, Ordering::SeqCst);
            r.count.store(0, Ordering::SeqCst);
            r.broken.store(0, Ordering::SeqCst);
            // SYNC: as in `wait_until`: the history entry is visible before the new gen.
            r.gen.store(gen.wrapping_add(1), Ordering::SeqCst);
        }
        drop(held);
        r.ec.notify(u32::MAX);
        Ok(())
    }
}

super::segment_api!(Barrier, kind::BARRIER, "Barrier::new(2)");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fork, reap, watchdog};

    /// A process that holds the barrier's internal lock and dies halfway through a
    /// generation's end (here a `reset`: history written, count cleared, `gen` not yet
    /// moved) left the waiters of that generation, and every later arrival, waiting for
    /// good: the next holder took the lock over and changed nothing, and a waiter with
    /// no deadline and no dead party never took the lock at all. Now a waiter that finds
    /// the end half-written takes the lock, and whoever takes it over finishes the end
    /// (found by two read-only reviews).
    #[test]
    fn a_holder_dying_mid_reset_is_finished_by_the_next() {
        let _w = watchdog("a_holder_dying_mid_reset_is_finished_by_the_next", 60);
        let b = Barrier::new(3).unwrap();
        let waiter = || {
            fork(|| match b.wait() {
                Err(BarrierError::Broken) => 0,
                _ => 1,
            })
        };
        let waiters = [waiter(), waiter()];
        while b.n_waiting() < 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // A resetter that never waited (so it is no party), killed mid-update.
        let resetter = fork(|| {
            let r = &*b.raw;
            r.lock.lock_blocking(my_owner_word()).unwrap();
            let gen = r.gen.load(Ordering::SeqCst);
            r.history[gen as usize % HISTORY].store(entry(gen) | BROKEN_BIT, Ordering::SeqCst);
            r.count.store(0, Ordering::SeqCst);
            0 // exits holding the lock, `gen` not moved
        });
        assert_eq!(reap(resetter), Ok(0));
        // Nobody else arrives: the waiters finish the reset themselves, and are let go
        // broken, as the reset meant.
        for w in waiters {
            assert_eq!(reap(w), Ok(0));
        }
        // The barrier works again after the reset (a `reset` of ours forgets the exited
        // waiters' registrations, which would otherwise break the next pass).
        b.reset().unwrap();
        let b2 = b.clone();
        let pass = fork(move || i32::from(b2.wait().is_err()));
        let other = fork(|| i32::from(b.wait().is_err()));
        assert!(b.wait().is_ok());
        assert_eq!((reap(pass), reap(other)), (Ok(0), Ok(0)));
    }

    /// An action that calls back into its own barrier ran while the barrier's lock was
    /// held by its own process: it waited for good. It gets an error instead.
    #[test]
    fn an_action_calling_its_own_barrier_gets_an_error_not_a_hang() {
        let _w = watchdog("an_action_calling_its_own_barrier", 30);
        let b = Barrier::new(1).unwrap();
        let inner = b.clone();
        let mapped_again = Barrier::from_handle(b.handle()).unwrap(); // another address
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = seen.clone();
        let b = b.with_action(move || {
            let mut seen = record.lock().unwrap();
            seen.push(inner.abort());
            seen.push(inner.reset());
            seen.push(inner.wait().map(|_| ()));
            seen.push(mapped_again.abort());
        });
        assert_eq!(b.wait(), Ok(0));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(
            seen.iter().all(|r| *r == Err(BarrierError::InAction)),
            "{seen:?}"
        );
        assert!(!b.broken());
    }
}
