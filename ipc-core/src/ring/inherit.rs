//! Presence for rings a started child inherited by descriptor (`pass_fd`), held from the
//! child's start until it takes its roles on them.
//!
//! Presence goes with an attached handle (an open file description holding a lock), not
//! with the fd. A parent that starts a child with a ring's fd and then drops its own
//! handle at once (Python's idiom: close your copy of what you gave away) would leave the
//! ring with no producer or consumer until the child's code attaches, and the parent's
//! peers would read `Closed` in between. So a process starter calls [`hold_inherited`] in
//! the child for each descriptor it passed, before it tells the parent the child has
//! started: the child then counts as both producer and consumer of each ring it was
//! given. Attaching the ring ([`Ring::from_handle`](super::Ring::from_handle) or
//! [`Ring::open_named`](super::Ring::open_named)) adopts that presence, and taking a
//! role lets it go. A child that never attaches the ring holds it until it exits, or
//! until [`release_all_inherited`].

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::RING_KIND;
use crate::liveness::{PresenceLock, Role};
use crate::segment::{fstat, peek_kind};

/// One inherited ring: the file (`st_dev`, `st_ino`) of its segment and the descriptions
/// holding its producer and consumer presence.
///
/// A forked child lets go of every slot at once (the fork handlers in `liveness.rs`):
/// the rings were given to its parent, not to it. That needs the table and the
/// descriptors to agree in the child, and a fork copies the descriptor table and the
/// memory at two different moments: a thread opening or closing a slot's descriptors in
/// between would leave the child a slot naming descriptors it does not have, or another
/// file's. So every read and change of the table, with the opening of its descriptors,
/// holds [`TableLock`], and a fork takes it too (`before_fork`). The fields are atomics
/// only to live in a `static`; the lock orders them (Relaxed under it).
struct Slot {
    held: AtomicBool,
    dev: AtomicU64,
    ino: AtomicU64,
    presence: [AtomicI32; 2],
}

/// Rings held at once, at most; more are not held (`hold_inherited` says false).
pub const MAX_INHERITED: usize = 256;

/// Held while the table changes, and across a fork. A spin lock on one word, not a
/// `Mutex`: the child releases the parent's hold itself (`after_fork_child`), and the
/// holds are a few system calls long.
struct TableLock;

static TABLE_LOCK: AtomicU32 = AtomicU32::new(0);

impl TableLock {
    fn take() -> TableLock {
        // SYNC: Acquire pairs with the Release store in `drop`: the next holder sees the
        // table as the last one left it.
        while TABLE_LOCK
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::thread::yield_now();
        }
        TableLock
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        // SYNC: Release pairs with the Acquire CAS in `take`.
        TABLE_LOCK.store(0, Ordering::Release);
    }
}

/// `pthread_atfork`'s prepare handler: no table change runs across the fork.
pub(crate) fn before_fork() {
    std::mem::forget(TableLock::take());
}

/// `pthread_atfork`'s parent handler.
pub(crate) fn after_fork_parent() {
    // SYNC: as `TableLock`'s drop (the prepare handler's hold).
    TABLE_LOCK.store(0, Ordering::Release);
}

/// `pthread_atfork`'s child handler: lets go of every ring the parent held (see
/// [`release_all_inherited`]), with the lock the prepare handler took still held.
/// Async-signal-safe: atomics and `close` only.
pub(crate) fn after_fork_child() {
    if COUNT.load(Ordering::SeqCst) != 0 {
        for slot in &TABLE {
            drop(empty(slot, None));
        }
    }
    // SYNC: as `TableLock`'s drop (the prepare handler's hold, copied into the child).
    TABLE_LOCK.store(0, Ordering::Release);
}

/// Slots held: `take` and `release_all_inherited` skip the table while it is 0 (most processes).
static COUNT: AtomicUsize = AtomicUsize::new(0);

static TABLE: [Slot; MAX_INHERITED] = [const {
    Slot {
        held: AtomicBool::new(false),
        dev: AtomicU64::new(0),
        ino: AtomicU64::new(0),
        presence: [AtomicI32::new(-1), AtomicI32::new(-1)],
    }
}; MAX_INHERITED];

/// `(st_dev, st_ino)` of the file `fd` names.
fn file_of(fd: RawFd) -> io::Result<(u64, u64)> {
    fstat(fd).map(|st| (st.st_dev, st.st_ino))
}

/// For process starters (mp-process calls it in each child it starts with `pass_fd`,
/// before the child's own code runs): if `fd` is a ring's segment, this process counts as
/// a producer and a consumer of the ring until it attaches the ring and takes a role on
/// it, or exits (or forks: see [`release_all_inherited`]). Returns whether it holds the
/// ring now. Any descriptor may be given: only a shared-memory file (tmpfs, hugetlbfs)
/// has its header read, with `pread`, and nothing is mapped or closed.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{hold_inherited, Ring};
///
/// let ring = Ring::builder().capacity(4096).create()?;
/// let h = ring.handle();
/// assert!(hold_inherited(h.fd)); // as a started child does for what it was passed
/// drop(ring.producer()?); // the last producer handle...
/// assert!(ring.producers_present()); // ...but this process still holds the ring
/// let attached = Ring::from_handle(h)?; // the child's code attaches it...
/// let _rx = attached.consumer()?; // ...and takes its role
/// assert!(!ring.producers_present());
/// assert!(!hold_inherited(-1)); // not a descriptor
/// assert!(!hold_inherited(0)); // not a ring
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hold_inherited(fd: RawFd) -> bool {
    if peek_kind(fd) != Some(RING_KIND) {
        return false;
    }
    let Ok(file) = file_of(fd) else {
        return false;
    };
    // So that a fork lets go of it (see `release_all_inherited`); before the lock, which
    // the fork handlers this registers take.
    crate::liveness::current_pid();
    let _table = TableLock::take();
    if TABLE.iter().any(|s| holds(s, file)) {
        return true; // held already (another descriptor of the same ring, say)
    }
    let (Ok(producer), Ok(consumer)) = (
        PresenceLock::acquire(fd, Role::Producer),
        PresenceLock::acquire(fd, Role::Consumer),
    ) else {
        return false;
    };
    let Some(slot) = TABLE.iter().find(|s| !s.held.load(Ordering::Relaxed)) else {
        return false; // full: the presence is dropped, as if never held
    };
    slot.dev.store(file.0, Ordering::Relaxed);
    slot.ino.store(file.1, Ordering::Relaxed);
    slot.presence[0].store(producer.into_raw(), Ordering::Relaxed);
    slot.presence[1].store(consumer.into_raw(), Ordering::Relaxed);
    slot.held.store(true, Ordering::Relaxed);
    // SYNC: SeqCst, before the lock's Release: a `take` that reads 0 without the lock
    // ran before this ring was held (a ring is adopted only once it is held anyway).
    COUNT.fetch_add(1, Ordering::SeqCst);
    true
}

/// Lets go of every ring [`hold_inherited`] holds in this process. A forked child does
/// this at once (fork handlers, registered by `hold_inherited`): it inherits the
/// holder's table and descriptions, but the rings were given to its parent, not to it.
/// It takes the table's lock, so it must not be called from a signal handler.
///
/// # Examples
///
/// ```
/// use ipc_core::ring::{hold_inherited, release_all_inherited, Ring};
///
/// let ring = Ring::builder().capacity(4096).create()?;
/// drop(ring.producer()?);
/// assert!(hold_inherited(ring.handle().fd));
/// release_all_inherited();
/// assert!(!ring.producers_present());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn release_all_inherited() {
    if COUNT.load(Ordering::SeqCst) == 0 {
        return;
    }
    let _table = TableLock::take();
    for slot in &TABLE {
        drop(empty(slot, None));
    }
}

/// Whether `slot` holds the ring in `file`. The caller holds the [`TableLock`].
fn holds(slot: &Slot, file: (u64, u64)) -> bool {
    slot.held.load(Ordering::Relaxed)
        && (
            slot.dev.load(Ordering::Relaxed),
            slot.ino.load(Ordering::Relaxed),
        ) == file
}

/// Takes the presence out of `slot` if it holds a ring (the ring in `file`, if given).
/// The caller holds the [`TableLock`].
fn empty(slot: &Slot, file: Option<(u64, u64)>) -> Option<[PresenceLock; 2]> {
    let wanted = match file {
        Some(f) => holds(slot, f),
        None => slot.held.load(Ordering::Relaxed),
    };
    if !wanted {
        return None;
    }
    let roles = [0, 1].map(|r| {
        let raw = slot.presence[r].swap(-1, Ordering::Relaxed);
        // SAFETY: `raw` came from `into_raw` in `hold_inherited`, and the swap (under
        // the table's lock) hands it to exactly one caller.
        unsafe { PresenceLock::from_raw(raw) }
    });
    slot.held.store(false, Ordering::Relaxed);
    COUNT.fetch_sub(1, Ordering::SeqCst);
    Some(roles)
}

/// The presence [`hold_inherited`] took for the ring whose segment `fd` names (any
/// descriptor of it): for the `Ring` attaching it to keep until it takes a role.
pub(super) fn take(fd: RawFd) -> Option<[PresenceLock; 2]> {
    if COUNT.load(Ordering::SeqCst) == 0 {
        return None;
    }
    let file = file_of(fd).ok()?;
    let _table = TableLock::take();
    // Held once per ring: `hold_inherited` looks first, under the lock.
    TABLE.iter().find_map(|s| empty(s, Some(file)))
}
