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
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::RING_KIND;
use crate::liveness::{PresenceLock, Role};
use crate::segment::peek_kind;

/// One inherited ring: the file (`st_dev`, `st_ino`) of its segment and the descriptions
/// holding its producer and consumer presence.
///
/// A forked child lets go of every slot at once (the fork handlers in `liveness.rs`):
/// the rings were given to its parent, not to it. That needs the table and the
/// descriptors to agree in the child, and a fork copies the descriptor table and the
/// memory at two different moments: a thread opening or closing a slot's descriptors in
/// between would leave the child a slot naming descriptors it does not have, or another
/// file's. So every change to the table, with the opening and closing of its
/// descriptors, holds [`TableLock`], and a fork takes it too (`before_fork`).
struct Slot {
    /// `FREE`, `BUSY` while a thread fills or empties it, or `HELD`.
    state: AtomicI32,
    dev: AtomicU64,
    ino: AtomicU64,
    presence: [AtomicI32; 2],
}

const FREE: i32 = 0;
const BUSY: i32 = 1;
const HELD: i32 = 2;

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
        TABLE_LOCK.store(0, Ordering::Release);
    }
}

/// `pthread_atfork`'s prepare handler: no table change runs across the fork.
pub(crate) fn before_fork() {
    std::mem::forget(TableLock::take());
}

/// `pthread_atfork`'s parent handler.
pub(crate) fn after_fork_parent() {
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
    TABLE_LOCK.store(0, Ordering::Release);
}

/// Slots `HELD`, or about to be: `take` skips the table while it is 0 (most processes).
static COUNT: AtomicUsize = AtomicUsize::new(0);

static TABLE: [Slot; MAX_INHERITED] = [const {
    Slot {
        state: AtomicI32::new(FREE),
        dev: AtomicU64::new(0),
        ino: AtomicU64::new(0),
        presence: [AtomicI32::new(-1), AtomicI32::new(-1)],
    }
}; MAX_INHERITED];

/// `(st_dev, st_ino)` of the file `fd` names.
fn file_of(fd: RawFd) -> io::Result<(u64, u64)> {
    // SAFETY: `stat` is a plain C struct for which all-zero bytes are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`; a closed or foreign `fd` is an error, not UB.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((st.st_dev, st.st_ino))
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
    COUNT.fetch_add(1, Ordering::SeqCst);
    // SYNC: the CAS claims a free slot for this thread; the fields are written before the
    // Release store of HELD publishes them to `empty`'s Acquire CAS. `COUNT` went up
    // first (SeqCst), so a `take` that reads it as 0 ran before this ring was held.
    let Some(slot) = TABLE.iter().find(|s| {
        s.state
            .compare_exchange(FREE, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }) else {
        COUNT.fetch_sub(1, Ordering::SeqCst);
        return false; // full: the presence is dropped, as if never held
    };
    slot.dev.store(file.0, Ordering::Relaxed);
    slot.ino.store(file.1, Ordering::Relaxed);
    slot.presence[0].store(producer.into_raw(), Ordering::Relaxed);
    slot.presence[1].store(consumer.into_raw(), Ordering::Relaxed);
    slot.state.store(HELD, Ordering::Release);
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

/// Whether `slot` holds the ring in `file`.
fn holds(slot: &Slot, file: (u64, u64)) -> bool {
    // SYNC: Acquire pairs with the Release store of HELD: the fields are the slot's.
    slot.state.load(Ordering::Acquire) == HELD
        && (
            slot.dev.load(Ordering::Relaxed),
            slot.ino.load(Ordering::Relaxed),
        ) == file
}

/// Takes the presence out of `slot` if it holds a ring (the ring in `file`, if given).
/// The caller holds the [`TableLock`].
fn empty(slot: &Slot, file: Option<(u64, u64)>) -> Option<[PresenceLock; 2]> {
    // Looked at first without taking the slot: taking another ring's slot, even for a
    // moment, would make a `take` of that ring running now pass it by.
    if file.is_some_and(|f| !holds(slot, f)) {
        return None;
    }
    // SYNC: the Acquire CAS pairs with the Release store of HELD in `hold_inherited`: the
    // fields read below are the ones written before it. BUSY keeps a concurrent
    // `hold_inherited` from refilling the slot until they are read.
    slot.state
        .compare_exchange(HELD, BUSY, Ordering::Acquire, Ordering::Relaxed)
        .ok()?;
    let here = (
        slot.dev.load(Ordering::Relaxed),
        slot.ino.load(Ordering::Relaxed),
    );
    if file.is_some_and(|f| f != here) {
        slot.state.store(HELD, Ordering::Release); // another ring's: left as it was
        return None;
    }
    let roles = [0, 1].map(|r| {
        let raw = slot.presence[r].swap(-1, Ordering::Relaxed);
        // SAFETY: `raw` came from `into_raw` in `hold_inherited`, and the swap hands it
        // to exactly one caller.
        unsafe { PresenceLock::from_raw(raw) }
    });
    // SYNC: Release, so that the next `hold_inherited` to claim the slot writes after the
    // reads above.
    slot.state.store(FREE, Ordering::Release);
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
    // Held once per ring (`hold_inherited` checks under the lock), but dropped all the
    // same if some other path held it twice: the first is adopted.
    let mut found = TABLE.iter().filter_map(|s| empty(s, Some(file)));
    let first = found.next();
    found.for_each(drop);
    first
}
