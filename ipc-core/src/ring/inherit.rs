//! Presence for rings a started child inherited by descriptor number (`pass_fd`), held
//! from the child's start until it attaches them.
//!
//! Presence goes with an attached handle (an open file description holding a lock), not
//! with the fd. A parent that starts a child with a ring's fd and then drops its own
//! handle at once (Python's idiom: close your copy of what you gave away) would leave the
//! ring with no producer or consumer until the child's code attaches, and the parent's
//! peers would read `Closed` in between. So a process starter calls [`hold_inherited`] in
//! the child for each descriptor it passed, before it tells the parent the child has
//! started: the child then counts as both producer and consumer of each ring it was
//! given. [`Ring::from_handle`](super::Ring::from_handle) adopts that presence, and taking
//! a role (or [`Ring::release_inherited`](super::Ring::release_inherited)) lets it go. A
//! child that never attaches holds it until it exits, as a forked child holds the handles
//! it inherited.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use super::RING_KIND;
use crate::liveness::{PresenceLock, Role};
use crate::segment::{Segment, SegmentHandle};

/// One inherited ring: the descriptor number it came at, the file (`st_dev`, `st_ino`) it
/// named then, and the descriptions holding its producer and consumer presence.
///
/// Atomics in a fixed table rather than a `Mutex<Vec<_>>`: a fork while another thread
/// held the mutex would leave the child a mutex locked for good (as `RegisterLock` says).
struct Slot {
    /// The ring's descriptor number; `FREE`, or `BUSY` while a thread fills or empties it.
    fd: AtomicI32,
    dev: AtomicU64,
    ino: AtomicU64,
    presence: [AtomicI32; 2],
}

const FREE: i32 = -1;
const BUSY: i32 = -2;

/// More rings than any start passes (a forkserver start takes at most 246 descriptors).
const SLOTS: usize = 256;

static HELD: [Slot; SLOTS] = [const {
    Slot {
        fd: AtomicI32::new(FREE),
        dev: AtomicU64::new(0),
        ino: AtomicU64::new(0),
        presence: [AtomicI32::new(-1), AtomicI32::new(-1)],
    }
}; SLOTS];

/// `(st_dev, st_ino)` and size of the file `fd` names.
fn stat(fd: RawFd) -> io::Result<((u64, u64), usize)> {
    // SAFETY: `stat` is a plain C struct for which all-zero bytes are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`; a closed or foreign `fd` is an error, not UB.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let size = usize::try_from(st.st_size).map_err(|_| io::Error::other("negative size"))?;
    Ok(((st.st_dev, st.st_ino), size))
}

/// For process starters (mp-process calls it in each child it starts, before the child's
/// own code runs): if `fd` is a ring's segment, this process counts as a producer and a
/// consumer of the ring until it attaches it with
/// [`Ring::from_handle`](super::Ring::from_handle) and takes its roles, or exits. Returns
/// whether it did; any other descriptor is left alone.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{hold_inherited, Ring};
///
/// let ring = Ring::builder().capacity(4096).create()?;
/// let h = ring.handle();
/// assert!(hold_inherited(h.fd)); // as a started child does for what it was passed
/// let tx = ring.producer()?;
/// drop(tx); // the last producer handle...
/// assert!(ring.producers_present()); // ...but this process still holds the ring
/// let attached = Ring::from_handle(h)?; // the child's code attaches it
/// attached.release_inherited(); // (taking a role does this too)
/// assert!(!ring.producers_present());
/// assert!(!hold_inherited(0)); // not a ring
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hold_inherited(fd: RawFd) -> bool {
    let Ok((file, size)) = stat(fd) else {
        return false;
    };
    let held = |s: &Slot| {
        s.fd.load(Ordering::Acquire) == fd
            && (s.dev.load(Ordering::Relaxed), s.ino.load(Ordering::Relaxed)) == file
    };
    if HELD.iter().any(held) {
        return true; // held already
    }
    if Segment::from_handle(SegmentHandle { fd, size }, RING_KIND).is_err() {
        return false;
    }
    let (Ok(producer), Ok(consumer)) = (
        PresenceLock::acquire(fd, Role::Producer),
        PresenceLock::acquire(fd, Role::Consumer),
    ) else {
        return false;
    };
    // SYNC: the CAS claims a free slot for this thread; the fields are written before the
    // Release store of `fd` publishes them to `take`'s Acquire CAS.
    let Some(slot) = HELD.iter().find(|s| {
        s.fd.compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }) else {
        return false; // full: the presence is dropped, as if never held
    };
    slot.dev.store(file.0, Ordering::Relaxed);
    slot.ino.store(file.1, Ordering::Relaxed);
    slot.presence[0].store(producer.into_raw(), Ordering::Relaxed);
    slot.presence[1].store(consumer.into_raw(), Ordering::Relaxed);
    slot.fd.store(fd, Ordering::Release);
    true
}

/// The presence [`hold_inherited`] took for `fd`, if `fd` still names that ring.
pub(super) fn take(fd: RawFd) -> Option<[PresenceLock; 2]> {
    if fd < 0 {
        return None;
    }
    let (file, _) = stat(fd).ok()?;
    HELD.iter().find_map(|slot| {
        // SYNC: the Acquire CAS pairs with the Release store in `hold_inherited`: the
        // fields read below are the ones written before it. BUSY keeps a concurrent
        // `hold_inherited` from refilling the slot until they are read.
        slot.fd
            .compare_exchange(fd, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        let same = (
            slot.dev.load(Ordering::Relaxed),
            slot.ino.load(Ordering::Relaxed),
        ) == file;
        if !same {
            // Another file now has this number: not ours to adopt; left as it was.
            slot.fd.store(fd, Ordering::Release);
            return None;
        }
        let roles = [0, 1].map(|r| {
            let raw = slot.presence[r].swap(-1, Ordering::Relaxed);
            // SAFETY: `raw` came from `into_raw` in `hold_inherited`, and the swap hands
            // it to exactly one caller.
            unsafe { PresenceLock::from_raw(raw) }
        });
        // SYNC: Release, so that the next `hold_inherited` to claim the slot writes after
        // the reads above.
        slot.fd.store(FREE, Ordering::Release);
        Some(roles)
    })
}
