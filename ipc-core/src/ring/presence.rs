//! Whether the other side of a ring is still there, asked cheaply: [`PresenceCache`],
//! which consumers and pipes use before they report `Closed` from a non-blocking call.

use super::Ring;
use crate::liveness::Role;

/// How long a [`PresenceCache`] trusts a "peers are present" answer when no handle closed.
pub const PRESENCE_TTL_MS: u32 = 5;

/// A remembered "the peers are present" answer, so that non-blocking calls can ask
/// whether the other side is gone without a system call each time. The answer is
/// reused while no handle of the ring has closed and for up to [`PRESENCE_TTL_MS`] ms
/// (on the kernel's coarse clock, so give or take one tick, 1 to 4 ms): a peer killed
/// without closing its handles is noticed within that time.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{PresenceCache, Ring};
///
/// let ring = Ring::builder().create()?;
/// let cache = PresenceCache::new();
/// let rx = ring.consumer()?;
/// assert!(!cache.consumers_gone(&ring));
/// drop(rx); // a close is seen at once
/// assert!(cache.consumers_gone(&ring));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct PresenceCache {
    /// `closes:32 | ms:32` when the peers were last seen present; 0: never.
    seen: std::sync::atomic::AtomicU64,
}

impl PresenceCache {
    /// A cache that asks on first use.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::{PresenceCache, Ring};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let _tx = ring.producer()?;
    /// let cache = PresenceCache::new();
    /// assert!(!cache.producers_gone(&ring)); // asked the kernel
    /// assert!(!cache.producers_gone(&ring)); // remembered: no system call
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> PresenceCache {
        PresenceCache::default()
    }

    /// True if no producer handle of `ring` is open anywhere, after one was: false while
    /// none was ever opened, as
    /// [`Ring::producers_present`](crate::ring::Ring::producers_present) counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::{PresenceCache, Ring};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let cache = PresenceCache::new();
    /// let tx = ring.producer()?;
    /// assert!(!cache.producers_gone(&ring));
    /// tx.close(); // a close is seen at once
    /// assert!(cache.producers_gone(&ring));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn producers_gone(&self, ring: &Ring) -> bool {
        self.gone(ring, Role::Producer)
    }

    /// True if no consumer handle of `ring` is open anywhere, after one was: false while
    /// none was ever opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ring::{PresenceCache, Ring};
    ///
    /// let ring = Ring::builder().capacity(4096).create()?;
    /// let cache = PresenceCache::new();
    /// assert!(!cache.consumers_gone(&ring)); // none was ever opened: not gone
    /// let rx = ring.consumer()?;
    /// assert!(!cache.consumers_gone(&ring));
    /// drop(rx);
    /// assert!(cache.consumers_gone(&ring));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn consumers_gone(&self, ring: &Ring) -> bool {
        self.gone(ring, Role::Consumer)
    }

    fn gone(&self, ring: &Ring, role: Role) -> bool {
        use std::sync::atomic::Ordering as O;
        let closes = ring.close_count();
        let now = coarse_ms();
        let seen = self.seen.load(O::Relaxed);
        if seen != 0
            && (seen >> 32) as u32 == closes
            && now.wrapping_sub(seen as u32) < PRESENCE_TTL_MS
        {
            return false;
        }
        let present = ring.peers_present(role);
        if present {
            self.seen
                .store((u64::from(closes) << 32) | u64::from(now), O::Relaxed);
        }
        !present
    }
}

/// Milliseconds on the coarse monotonic clock, wrapping (only differences are used); 0 is
/// skipped, since `gone` reads it as "never checked". The coarse clock is a plain read in
/// the vDSO: a pipe asks on every send. Read straight from the clock (no lazily
/// initialised start instant: a lazy init could be mid-flight in another thread when a
/// child is forked, and the child would wait for it forever).
fn coarse_ms() -> u32 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; CLOCK_MONOTONIC_COARSE exists on Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let ms = (ts.tv_sec as u64).wrapping_mul(1000) + ts.tv_nsec as u64 / 1_000_000;
    (ms as u32).max(1)
}
