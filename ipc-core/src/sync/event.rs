//! `Event`: a flag in shared memory that processes wait on.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{kind, new_segment, Mapped, SharedState};
use crate::error::OpenError;
use crate::futex::Wake;
use crate::primitive::{AtomicU32, Ordering};
use crate::segment::Segment;
use crate::waiter::{deadline_after, EventCount};

#[repr(C)]
pub(crate) struct RawEvent {
    /// 0: clear; any other value: set (every bit pattern has a meaning).
    flag: AtomicU32,
    ec: EventCount,
}

// SAFETY: repr(C), atomics only; all-zero is "clear".
unsafe impl SharedState for RawEvent {}

/// A process-shared event (Python's `multiprocessing.Event`).
///
/// Nothing is owned, so a process dying changes nothing: the flag stays as it was.
///
/// # Examples
///
/// ```
/// use ipc_core::sync::Event;
/// use ipc_core::testing::{fork, reap};
///
/// let ev = Event::new()?;
/// let child = fork(|| { ev.set(); 0 });
/// ev.wait();
/// assert!(ev.is_set());
/// assert_eq!(reap(child), Ok(0));
/// # Ok::<(), ipc_core::OpenError>(())
/// ```
#[derive(Clone)]
pub struct Event {
    raw: Mapped<RawEvent>,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish_non_exhaustive()
    }
}

impl Event {
    /// Creates a clear event in a nameless segment.
    ///
    /// ```
    /// assert!(!ipc_core::sync::Event::new()?.is_set());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn new() -> Result<Event, OpenError> {
        Self::build(None)
    }

    /// Creates a named event (`/{prefix}-{random}`) for unrelated programs.
    ///
    /// ```
    /// use ipc_core::sync::Event;
    /// let ev = Event::create_named("doc-event")?;
    /// Event::open_named(ev.name().unwrap())?.set();
    /// assert!(ev.is_set());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn create_named(prefix: &str) -> Result<Event, OpenError> {
        Self::build(Some(prefix))
    }

    fn build(prefix: Option<&str>) -> Result<Event, OpenError> {
        let seg = new_segment(std::mem::size_of::<RawEvent>(), kind::EVENT, prefix)?;
        seg.mark_initialized();
        Self::attach(seg)
    }

    fn attach(seg: Segment) -> Result<Event, OpenError> {
        Ok(Event {
            raw: Mapped::at(Arc::new(seg), 0)?,
        })
    }

    fn segment(&self) -> &Segment {
        self.raw.segment()
    }

    /// True once set, until cleared.
    ///
    /// ```
    /// let ev = ipc_core::sync::Event::new()?;
    /// ev.set();
    /// assert!(ev.is_set());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn is_set(&self) -> bool {
        // SYNC: Acquire pairs with the SeqCst store in `set`: what the setter wrote before
        // setting is visible to whoever sees the flag.
        self.raw.flag.load(Ordering::Acquire) != 0
    }

    /// Sets the flag and wakes every waiter.
    ///
    /// ```
    /// let ev = ipc_core::sync::Event::new()?;
    /// ev.set();
    /// assert!(ev.wait_timeout(std::time::Duration::ZERO));
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn set(&self) {
        // SYNC: SeqCst publishes the set (and prior writes) and orders it before the waiter
        // check in `notify` (event count handshake).
        self.raw.flag.store(1, Ordering::SeqCst);
        // Counted even with nobody asleep: a waiter between two naps must still see that
        // a set came (see `wait_until`).
        self.raw.ec.notify_counted(u32::MAX);
    }

    /// Clears the flag.
    ///
    /// ```
    /// let ev = ipc_core::sync::Event::new()?;
    /// ev.set();
    /// ev.clear();
    /// assert!(!ev.is_set());
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn clear(&self) {
        self.raw.flag.store(0, Ordering::SeqCst);
    }

    /// Blocks until the flag is set. A `set` while this process waits ends the wait even
    /// if a `clear` follows at once, before this waiter runs: Python's `Event.wait`
    /// returns "if and only if the internal flag has been set to true, either before the
    /// wait call or after the wait starts".
    ///
    /// ```
    /// let ev = ipc_core::sync::Event::new()?;
    /// ev.set();
    /// ev.wait(); // returns at once
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is set or `timeout` passes (Python's `wait(timeout)`).
    /// Returns true if the flag was set before the call or at any moment during it, even
    /// if cleared again since, as `threading.Event` does; false on a timeout.
    /// (CPython's `multiprocessing.Event` ends the wait for a `set` then `clear` too, but
    /// reads the flag again and returns `False`, as a timeout would.)
    ///
    /// ```
    /// let ev = ipc_core::sync::Event::new()?;
    /// assert!(!ev.wait_timeout(std::time::Duration::from_millis(5)));
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    /// Blocks until the flag is set or `deadline` passes; returns as
    /// [`wait_timeout`](Self::wait_timeout) does.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let ev = ipc_core::sync::Event::new()?;
    /// assert!(!ev.wait_deadline(Instant::now() + Duration::from_millis(5)));
    /// # Ok::<(), ipc_core::OpenError>(())
    /// ```
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        // The epoch when this wait began: only `set` moves it on, even when no waiter is
        // counted, so an epoch moved on since means a `set` came during the wait, even one
        // cleared again before this process looked (between this load and the first
        // `prepare`, or between two `POLL`-long naps).
        // SYNC: a `set` whose epoch step this load misses moves the epoch after it, so the
        // checks below see the moved epoch (or the flag) at the latest after one nap.
        let since = self.raw.ec.epoch();
        loop {
            if self.is_set() {
                return true;
            }
            let token = self.raw.ec.prepare();
            // SYNC: SeqCst pairs with the SeqCst store in `set`. A token's epoch past
            // `since` is a set already come and maybe gone: no need to sleep on it.
            if self.raw.flag.load(Ordering::SeqCst) != 0 || token.epoch() != since {
                self.raw.ec.cancel(token);
                return true;
            }
            let woke = self.raw.ec.wait(token, deadline);
            if self.raw.ec.epoch() != since {
                return true;
            }
            if woke == Wake::TimedOut {
                return self.is_set();
            }
        }
    }
}

super::segment_api!(Event, kind::EVENT, "Event::new()");
