//! Process-wide state that a child must not inherit as-is: who we are, our children,
//! our forkserver connection.
//!
//! A forked child starts with one thread; any lock another thread of the parent held at
//! the fork stays locked forever in the child. So per-process state lives behind a
//! [`ForkLocal`]: a leaked allocation reached through an atomic pointer that a
//! `pthread_atfork` child handler sets back to null (an atomic store, async-signal-safe).
//! The child then builds fresh state on first use and never touches the parent's copy,
//! whatever state its lock was in. The old allocation is leaked in the child: a few bytes.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use ipc_core::ProcessId;

use crate::forkserver::Client;
use crate::handle::Child;
use crate::sys;
use crate::StartMethod;

/// A lazily built, never freed value that a forked child forgets.
pub(crate) struct ForkLocal<T> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> ForkLocal<T> {
    pub(crate) const fn new() -> Self {
        ForkLocal {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The value, building it with `init` the first time in this process.
    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &'static T {
        install_atfork();
        // SYNC: pairs with the Release in the compare_exchange below, so a published
        // value is fully built before anyone reads it.
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: a non-null pointer came from Box::into_raw and is never freed.
            return unsafe { &*p };
        }
        let fresh = Box::into_raw(Box::new(init()));
        // SYNC: publishes the built value (pairs with the Acquire loads here and in `get`).
        match self.ptr.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `fresh` is now published and never freed.
            Ok(_) => unsafe { &*fresh },
            Err(winner) => {
                // SAFETY: `fresh` lost the race and was never shared: we still own it.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: `winner` came from Box::into_raw and is never freed.
                unsafe { &*winner }
            }
        }
    }

    /// The value, if one was built in this process.
    pub(crate) fn get(&self) -> Option<&'static T> {
        // SYNC: pairs with the publishing compare_exchange / swap.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from Box::into_raw and is never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// Replaces the value (only in a fresh child, before user code runs). The old one
    /// is leaked, not dropped: another thread may still be reading it in the parent's
    /// image, which this process inherited.
    pub(crate) fn set(&self, value: T) {
        install_atfork();
        // SYNC: publishes the new value (pairs with the Acquire loads).
        self.ptr
            .swap(Box::into_raw(Box::new(value)), Ordering::AcqRel);
    }

    /// Forgets the value without touching it (atfork child handler).
    fn forget(&self) {
        if !self.ptr.load(Ordering::Relaxed).is_null() {
            self.ptr.store(std::ptr::null_mut(), Ordering::Relaxed);
        }
    }

    /// Installs `value`, built by the parent before `fork` (so the child allocates
    /// nothing). The old value is leaked as in [`set`](Self::set).
    pub(crate) fn set_prebuilt(&self, value: *mut T) {
        // SYNC: publishes the new value (pairs with the Acquire loads).
        self.ptr.swap(value, Ordering::AcqRel);
    }
}

/// Who this process is, in Python's terms.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// Python's `_identity`: `[1]` for the first child of the main process, `[1, 2]`
    /// for the second child of that child.
    pub(crate) identity: Vec<u32>,
    pub(crate) parent: Option<ParentInfo>,
}

/// The process that started this one.
#[derive(Debug, Clone)]
pub(crate) struct ParentInfo {
    pub(crate) id: ProcessId,
    pub(crate) name: String,
}

/// Everything a forked child resets, in one page-aligned block: after `fork` every
/// page the child writes costs a copy-on-write fault, so the reset and the child's new
/// identity touch one page, not five (measured: a visible share of fork start+join).
#[repr(C, align(4096))]
pub(crate) struct PerProcess {
    /// Who we are. Not reset by the atfork handler: a raw `fork` by user code keeps the
    /// parent's identity (as Python's `os.fork`); our own children set theirs.
    pub(crate) me: ForkLocal<Me>,
    /// This process's children that are started and not yet reaped.
    pub(crate) children: ForkLocal<Mutex<Vec<Arc<Child>>>>,
    /// This process's [`ProcessId`], read once from `/proc`.
    self_id: ForkLocal<Option<ProcessId>>,
    /// The connection to our forkserver.
    pub(crate) client: ForkLocal<Mutex<Option<Client>>>,
    /// Forkserver children's statuses to forget once the connection is free
    /// (`forkserver::forget_status`).
    pub(crate) forget_later: ForkLocal<Mutex<Vec<crate::forkserver::Started>>>,
    /// The forkserver client's socket, so that a forked child can close it without
    /// touching the client's lock. -1 when there is none.
    pub(crate) client_fd: AtomicI32,
    /// The forkserver's pidfd, closed in a forked child as `client_fd` is. -1 when none.
    pub(crate) server_fd: AtomicI32,
    /// How many children this process has named so far (`Process-N`).
    counter: AtomicU32,
}

pub(crate) static S: PerProcess = PerProcess {
    me: ForkLocal::new(),
    children: ForkLocal::new(),
    self_id: ForkLocal::new(),
    client: ForkLocal::new(),
    forget_later: ForkLocal::new(),
    client_fd: AtomicI32::new(-1),
    server_fd: AtomicI32::new(-1),
    counter: AtomicU32::new(0),
};

/// The process-wide default start method (see `set_start_method`).
pub(crate) static DEFAULT_METHOD: AtomicU8 = AtomicU8::new(StartMethod::Fork as u8);

pub(crate) fn me() -> &'static Me {
    S.me.get_or_init(|| Me {
        name: "MainProcess".to_owned(),
        daemon: false,
        identity: Vec::new(),
        parent: None,
    })
}

/// The next child's identity and default name.
pub(crate) fn next_identity() -> (Vec<u32>, String) {
    let n = S.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let mut identity = me().identity.clone();
    identity.push(n);
    let parts: Vec<String> = identity.iter().map(u32::to_string).collect();
    let name = format!("Process-{}", parts.join(":"));
    (identity, name)
}

/// This process as a parent, for the child's `parent_process()`.
pub(crate) fn as_parent() -> ParentInfo {
    let cached = *S.self_id.get_or_init(|| ProcessId::current().ok());
    let id = cached.unwrap_or(ProcessId {
        pid: sys::getpid() as u32,
        start_time: 0,
    });
    ParentInfo {
        id,
        name: me().name.clone(),
    }
}

pub(crate) fn register(child: Arc<Child>) {
    let list = S.children.get_or_init(|| Mutex::new(Vec::new()));
    lock(list).push(child);
}

/// Forgets `child`: that one, not every child of its pid (a forkserver child's pid may
/// have been given to a newer child once the server reaped it).
pub(crate) fn unregister(child: &Child) {
    if let Some(list) = S.children.get() {
        lock(list).retain(|c| !std::ptr::eq(Arc::as_ptr(c), child));
    }
}

pub(crate) fn children() -> Vec<Arc<Child>> {
    S.children
        .get()
        .map(|l| lock(l).clone())
        .unwrap_or_default()
}

/// Takes the lock if it is free now, ignoring poison as [`lock`] does; `None` if another
/// thread holds it.
pub(crate) fn try_lock<T>(m: &Mutex<T>) -> Option<std::sync::MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(std::sync::TryLockError::WouldBlock) => None,
    }
}

/// Locks, ignoring poison: the protected data are plain lists that a panic cannot leave
/// half-updated.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

extern "C" fn in_child_after_fork() {
    S.children.forget();
    S.self_id.forget();
    S.client.forget();
    S.forget_later.forget();
    if S.counter.load(Ordering::Relaxed) != 0 {
        S.counter.store(0, Ordering::Relaxed);
    }
    for slot in [&S.client_fd, &S.server_fd] {
        let fd = slot.load(Ordering::Relaxed);
        if fd >= 0 {
            slot.store(-1, Ordering::Relaxed);
            // SAFETY: close is async-signal-safe; the fd belongs to the parent's client,
            // which this process will never use.
            unsafe { libc::close(fd) };
        }
    }
}

fn install_atfork() {
    // Not a `Once`: a child forked while another thread was inside `call_once` would wait
    // forever for a thread it does not have. A CAS on the installer's pid elects the
    // registering thread; the other threads of the process wait the few microseconds it
    // takes (a fork before it is done would leave the child this process's children and
    // forkserver). A child forked while its parent was registering sees the parent's pid
    // there, not its own, and registers for itself (if the parent's registration had
    // completed, the handler then runs twice per fork, which it tolerates).
    static DONE: AtomicBool = AtomicBool::new(false);
    static INSTALLER: AtomicU32 = AtomicU32::new(0);
    // SYNC: as below; the usual path, once registered.
    if DONE.load(Ordering::Acquire) {
        return;
    }
    let me = sys::getpid() as u32;
    loop {
        // SYNC: Acquire pairs with the Release store below: the handler is registered.
        if DONE.load(Ordering::Acquire) {
            return;
        }
        // Relaxed: the pid only elects; DONE publishes.
        let installer = INSTALLER.load(Ordering::Relaxed);
        if installer == me {
            std::thread::yield_now(); // another thread of this process registers
            continue;
        }
        if INSTALLER
            .compare_exchange(installer, me, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: the child handler only performs atomic stores and `close`, both
            // async-signal-safe.
            unsafe { libc::pthread_atfork(None, None, Some(in_child_after_fork)) };
            // SYNC: pairs with the Acquire loads above: whoever sees it, forks after the
            // registration.
            DONE.store(true, Ordering::Release);
            return;
        }
    }
}
