//! Sleeping and waking across processes: an event count on a shared futex, and a backoff.
//!
//! The wake protocol (a Dekker handshake; rayon-core's sleep module has the same shape):
//!
//! | waiter                                  | notifier                               |
//! |-----------------------------------------|----------------------------------------|
//! | `t = epoch` (prepare)                   | publish the state change (SeqCst)*     |
//! | `waiters += 1`, SeqCst fence            | `if waiters > 0`:                      |
//! | re-check the condition; if met: cancel  | `  epoch += 1; FUTEX_WAKE(epoch)`      |
//! | `FUTEX_WAIT(epoch, t)`; `waiters -= 1`  |                                        |
//!
//! Either the notifier sees `waiters > 0` and bumps `epoch` (so the wait returns at once or
//! is woken), or the waiter's re-check sees the published change. Nobody pays a syscall
//! when nobody sleeps: `notify` is one load in that case.
//!
//! \* The ring publishes `READY` and `DONE` with a handshake store instead
//! (`fence::publish`: a release store where the process could register for `membarrier`),
//! and its waiters use `prepare_heavy`, which adds the `membarrier` that stands in for the
//! barrier the notifier skipped (`fence.rs`).
//!
//! `notify_all_once` (the ring's wake) also clears an `armed` flag that every `prepare`
//! sets, and skips the syscall when it is clear: between a wake and the woken waiter
//! running, a producer publishing on every record would otherwise pay `FUTEX_WAKE` each
//! time.

use std::time::{Duration, Instant};

use crate::futex::{self, Wake};
use crate::primitive::{fence, spin_hint, AtomicU32, Ordering};
use crate::ring::POLL;

/// A nap's limit when the waiter's `membarrier` failed (`EventCount::prepare_heavy`).
const SHORT_NAP: std::time::Duration = std::time::Duration::from_millis(1);

/// The deadline `timeout` from now; `None` (wait forever) when that instant is not
/// representable, e.g. for `Duration::MAX`, where `Instant::now() + timeout` would panic.
/// Every `*_timeout` call in the workspace turns its timeout into a deadline with this.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// assert!(ipc_core::deadline_after(Duration::from_secs(1)).is_some());
/// assert_eq!(ipc_core::deadline_after(Duration::MAX), None); // wait forever, no panic
/// ```
pub fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A cross-process event count. Lives in shared memory; all-zero bytes are a valid state.
#[repr(C)]
pub(crate) struct EventCount {
    epoch: AtomicU32,
    waiters: AtomicU32,
    /// Set by every `prepare`, cleared by `notify_all_once`: "someone went to sleep since
    /// the last wake".
    armed: AtomicU32,
}

/// What a waiter saw before it re-checked its condition: the epoch, and whether its
/// `membarrier` failed (then a notifier's light store may have been missed, and the nap
/// is short).
#[must_use]
pub(crate) struct Token(u32, bool);

impl Token {
    /// The epoch when this waiter registered.
    pub(crate) fn epoch(&self) -> u32 {
        self.0
    }
}

impl EventCount {
    pub(crate) fn new() -> Self {
        EventCount {
            epoch: AtomicU32::new(0),
            waiters: AtomicU32::new(0),
            armed: AtomicU32::new(0),
        }
    }

    /// Wakes up to `n` sleepers, if there are any. Call after publishing with SeqCst (or
    /// with `fence::publish`, when the waiters use [`prepare_heavy`](Self::prepare_heavy)).
    #[inline]
    pub(crate) fn notify(&self, n: u32) {
        // SYNC: pairs with the SeqCst fence in `prepare`: either we see the waiter, or the
        // waiter's re-check sees what we published before calling notify.
        if self.waiters.load(Ordering::SeqCst) != 0 {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.epoch, n);
        }
    }

    /// As [`notify`](Self::notify), but the epoch moves on even when nobody waits: for
    /// waiters that ask whether a notify came at any moment since they first registered
    /// with [`Token::epoch`], including while they were between two naps and not counted.
    /// One more atomic operation a call.
    pub(crate) fn notify_counted(&self, n: u32) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        // SYNC: as in `notify`: the SeqCst increment orders what the caller published
        // before the waiter count is read.
        if self.waiters.load(Ordering::SeqCst) != 0 {
            futex::wake(&self.epoch, n);
        }
    }

    /// Wakes every sleeper, but pays the wake system call at most once per sleep: a
    /// second call before any waiter went back to sleep costs two atomic operations, not
    /// a syscall. (With `notify`, a notifier calling on every record kept paying
    /// `FUTEX_WAKE` until the woken waiter got a core and took itself off the count.)
    #[inline]
    pub(crate) fn notify_all_once(&self) {
        // SYNC: as in `notify`; `armed` is stored by `prepare` before its fence, so either
        // we see it set, or the waiter's re-check sees what we published.
        if self.waiters.load(Ordering::SeqCst) != 0 && self.armed.swap(0, Ordering::SeqCst) != 0 {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            futex::wake(&self.epoch, u32::MAX);
        }
    }

    /// True if a waiter has registered (and not yet left).
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        // SYNC: pairs with the increment and fence in `prepare` (and the `membarrier` in
        // `prepare_heavy`): a notifier that published with a SeqCst operation (or a
        // handshake store, against `prepare_heavy`) and sees no waiter here knows any later
        // waiter's re-check sees what it published.
        self.waiters.load(Ordering::SeqCst) != 0
    }

    /// The epoch: it moves on with every `notify` that found a waiter, and with every
    /// [`notify_counted`](Self::notify_counted). A waiter compares it with
    /// [`Token::epoch`] to tell whether it was notified since it registered.
    pub(crate) fn epoch(&self) -> u32 {
        // SYNC: pairs with the SeqCst increments in `notify` and `notify_counted`, which
        // follow the notifier's publishing store: an epoch seen moved shows that store.
        self.epoch.load(Ordering::SeqCst)
    }

    /// Registers as a waiter. The caller must re-check its condition, then call
    /// [`wait`](Self::wait) or [`cancel`](Self::cancel).
    pub(crate) fn prepare(&self) -> Token {
        let t = self.epoch.load(Ordering::SeqCst);
        // SYNC: the count, `armed` and the fence pair with the SeqCst loads of `waiters`
        // and the swap of `armed` in the notifiers: either a notifier sees this waiter
        // (and `armed`), or the caller's re-check sees what that notifier published.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        self.armed.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        Token(t, false)
    }

    /// As [`prepare`](Self::prepare), for an event count whose notifiers publish with
    /// [`fence::publish`](crate::fence::publish) (a release store where they may): adds
    /// [`fence::heavy`](crate::fence::heavy), the barrier that makes their store visible
    /// to the caller's re-check, or this registration visible to their read of the waiter
    /// count. A system call: for a caller on its way to sleep. If the barrier fails while
    /// `light_peers()` says some process may publish lightly, the caller's
    /// [`nap`](Self::nap) lasts at most [`SHORT_NAP`], not [`POLL`]: a missed store then
    /// costs that much, once. (`light_peers` is read after the registration fence, so a
    /// process that sets its bit later also sees this waiter.)
    pub(crate) fn prepare_heavy(&self, light_peers: impl FnOnce() -> bool) -> Token {
        let t = self.prepare();
        let short = !crate::fence::heavy() && light_peers();
        Token(t.0, short)
    }

    /// Sleeps until notified (or spuriously), or until `deadline`; never longer than
    /// [`POLL`] at a time. A notifier publishes, then wakes: one killed in between, or a
    /// waiter count corrupted to 0 (the notifier then skips the wake), would leave a
    /// waiter with no deadline asleep for good. So a sleep cut short by `POLL` returns
    /// [`Wake::Woken`], a spurious wake; the caller re-checks and sleeps again. Only the
    /// caller's own `deadline` gives [`Wake::TimedOut`].
    pub(crate) fn wait(&self, token: Token, deadline: Option<Instant>) -> Wake {
        debug_assert!(
            !token.1,
            "a short-nap token belongs to `nap`, which honours it"
        );
        let poll = Instant::now() + POLL;
        match deadline {
            Some(d) if d <= poll => self.sleep(token, Some(d)),
            _ => {
                let _ = self.sleep(token, Some(poll));
                Wake::Woken
            }
        }
    }

    /// As [`wait`](Self::wait), but never longer than [`POLL`]: for waiters that must look
    /// at something besides the futex word (a peer's liveness) every `POLL`. Never
    /// longer than [`SHORT_NAP`] after a failed `membarrier` (see `prepare_heavy`).
    pub(crate) fn nap(&self, token: Token, deadline: Option<Instant>) -> Wake {
        let poll = Instant::now() + if token.1 { SHORT_NAP } else { POLL };
        self.sleep(token, Some(deadline.map_or(poll, |d| d.min(poll))))
    }

    fn sleep(&self, token: Token, deadline: Option<Instant>) -> Wake {
        let r = futex::wait(&self.epoch, token.0, deadline);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        r
    }

    /// Withdraws a [`prepare`](Self::prepare) whose re-check found the condition met.
    pub(crate) fn cancel(&self, _token: Token) {
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Bounded spinning with exponential backoff, then yielding, then "go to sleep".
///
/// Pure spinning is many times slower when peers share a core (crossbeam #821), and this
/// machine class has two cores, so the spin phase is short.
pub(crate) struct Backoff {
    step: u32,
    /// Single-pause steps left before the exponential ones (see [`Backoff::eager`]).
    flat: u32,
    /// What `reset` gives `flat` back.
    eager: u32,
}

const SPIN_STEPS: u32 = 7; // 1 + 2 + ... + 64 pause instructions
const YIELD_STEPS: u32 = 10;
/// Single-pause steps of [`Backoff::eager`]: about 1 µs here, where a pause takes ~30 ns.
const EAGER_STEPS: u32 = 32;

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff {
            step: 0,
            flat: 0,
            eager: 0,
        }
    }

    /// For a consumer waiting for a message: it first looks again after every pause for
    /// about a microsecond, then backs off as [`new`](Self::new) does. Doubling from the
    /// first pause overshot a reply due in a few hundred nanoseconds by up to the last
    /// step (ring ping-pong with a busy peer: 270-300 ns per round trip, 190 ns with
    /// this). Producers waiting for room keep backing off at once: looking at the free
    /// cursor that often slowed the consumers they wait for.
    pub(crate) fn eager() -> Self {
        Backoff {
            step: 0,
            flat: EAGER_STEPS,
            eager: EAGER_STEPS,
        }
    }

    /// Waits a little. Returns `false` once the caller should sleep instead.
    pub(crate) fn snooze(&mut self) -> bool {
        if self.flat > 0 {
            self.flat -= 1;
            spin_hint();
            return true;
        }
        if self.step < SPIN_STEPS {
            for _ in 0..(1u32 << self.step) {
                spin_hint();
            }
        } else if self.step < SPIN_STEPS + YIELD_STEPS {
            std::thread::yield_now();
        } else {
            return false;
        }
        self.step += 1;
        true
    }

    pub(crate) fn reset(&mut self) {
        self.step = 0;
        self.flat = self.eager;
    }
}
