//! Who is alive: process identities that survive pid reuse, and presence locks the kernel
//! releases when the last holder exits.
//!
//! Two mechanisms, for two questions:
//! - "Is the process that owns this record still running?" A [`ProcessId`] (pid + start
//!   time from `/proc/PID/stat`) answers it; a zombie counts as dead (unless its main
//!   thread alone has exited), and a recycled pid has another start time. When `/proc`
//!   cannot tell, the answer is "alive" (see `runs`).
//! - "Is any producer (or consumer) handle still open anywhere?" A `PresenceLock` answers
//!   it: each handle holds a shared OFD lock on one byte of the segment's file through its
//!   own open file description. `fork` and fd inheritance share the description, so a child
//!   keeps the handle's presence alive with no registration step to race against; the kernel
//!   drops the lock when the last process holding the description closes it or dies.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};

use crate::error::{corrupted, Corrupted};

/// A process, named so that a recycled pid never looks like the old process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessId {
    /// The kernel's process id.
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/PID/stat`, field 22).
    pub start_time: u64,
}

static PID: AtomicU32 = AtomicU32::new(0);

extern "C" fn forget_pid_after_fork() {
    PID.store(0, Ordering::Relaxed);
    // Keyed by pid already, but a descendant may get a recycled ancestor's pid.
    ME_PROCESS.store(0, Ordering::Relaxed);
    // Rings the parent was started with are the parent's to hold (atomics and `close`).
    crate::ring::after_fork_child();
}

/// Before a fork: no change to the table of inherited rings runs across it.
extern "C" fn before_fork() {
    crate::ring::before_fork();
}

extern "C" fn after_fork_parent() {
    crate::ring::after_fork_parent();
}

/// The calling process's pid, cached; a `fork` clears the cache in the child.
///
/// No `Once` here: a child forked while another thread was inside `Once::call_once`
/// would wait forever for a thread it does not have. Registering the fork handler is a
/// CAS; until it is done, the pid is simply not cached.
#[inline]
pub(crate) fn current_pid() -> u32 {
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    cache_pid()
}

#[cold]
fn cache_pid() -> u32 {
    static HOOK: AtomicU32 = AtomicU32::new(0); // 0: none, 1: registering, 2: registered
    if HOOK
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        // SAFETY: registers handlers that only perform atomic operations, `sched_yield`
        // and `close`, which are async-signal-safe and so allowed in a child after fork.
        let rc = unsafe {
            libc::pthread_atfork(
                Some(before_fork),
                Some(after_fork_parent),
                Some(forget_pid_after_fork),
            )
        };
        // Without the handler a forked child would keep the parent's cached pid: cache
        // nothing then (and let a later call try to register again).
        // SYNC: the Release store pairs with the Acquire load below in other threads:
        // whoever sees 2 also sees the handler registered.
        HOOK.store(if rc == 0 { 2 } else { 0 }, Ordering::Release);
    }
    let pid = std::process::id();
    if HOOK.load(Ordering::Acquire) == 2 {
        PID.store(pid, Ordering::Relaxed);
    }
    pid
}

impl ProcessId {
    /// The calling process.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::ProcessId;
    ///
    /// let me = ProcessId::current()?;
    /// assert_eq!(me.pid, std::process::id());
    /// assert_ne!(me.start_time, 0);
    /// assert!(me.is_alive());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn current() -> io::Result<ProcessId> {
        let pid = current_pid();
        match stat_of(pid)? {
            Some((start_time, _)) => Ok(ProcessId { pid, start_time }),
            None => Err(io::Error::other("cannot read /proc/self/stat")),
        }
    }

    /// True while the process runs (or is stopped); false once it has exited, even as an
    /// unreaped zombie, or when its pid now belongs to another process. A process whose
    /// main thread exited while other threads run is alive; so is one that `/proc` hides.
    ///
    /// A `start_time` of 0 means "not known yet": then only the pid is checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use ipc_core::testing::{fork, reap};
    /// use ipc_core::ProcessId;
    ///
    /// let me = ProcessId::current()?;
    /// assert!(me.is_alive());
    /// let recycled = ProcessId { start_time: me.start_time + 1, ..me }; // same pid, later start
    /// assert!(!recycled.is_alive());
    /// let child = fork(|| 0);
    /// assert_eq!(reap(child), Ok(0));
    /// assert!(!ProcessId { pid: child as u32, start_time: 0 }.is_alive()); // exited
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn is_alive(&self) -> bool {
        runs(self.pid, |start| {
            self.start_time == 0 || start == self.start_time
        })
    }
}

/// True while process (or thread) `id` runs and `started(start_time)` accepts its start
/// time; false once it has exited (a zombie counts as exited, unless other threads of
/// it still run) or the id was reused.
///
/// When in doubt the answer is "alive": that can delay recovery, but never takes anything
/// from a live owner. So:
/// - `/proc` unreadable: alive;
/// - no `/proc/ID` but the kernel still knows `id` (`/proc` mounted with `hidepid`, which
///   hides other users' processes): alive, start time unchecked. So a hidden owner that
///   died stays "alive" while its pid is reused by another hidden process, or while it
///   is an unreaped zombie;
/// - a zombie whose other threads still run (its main thread called `pthread_exit`, or
///   left through the raw `exit` system call): alive. A lock held by that main thread
///   itself is then recovered only once the whole process has exited.
pub(crate) fn runs(id: u32, started: impl FnOnce(u64) -> bool) -> bool {
    match stat_of(id) {
        Ok(Some((start, b'Z'))) => started(start) && other_threads_run(id),
        Ok(Some((start, state))) => started(start) && state != b'X',
        Ok(None) => known_to_the_kernel(id),
        Err(_) => true,
    }
}

/// Whether the thread group of a zombie `id` still has live threads: `/proc/ID/status`
/// counts the zombie leader among its `Threads`, so more than one means others run.
fn other_threads_run(id: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{id}/status")) else {
        return false; // reaped since the stat was read
    };
    text.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .is_some_and(|n| n > 1)
}

/// Whether `id` names a process or thread the kernel knows, seen in `/proc` or not.
fn known_to_the_kernel(id: u32) -> bool {
    let Ok(pid @ 1..) = libc::pid_t::try_from(id) else {
        return false; // 0 and negatives name groups of processes, not one
    };
    // SAFETY: signal 0 only checks that `pid` exists and may be signalled.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, and belongs to someone we may not signal.
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Reads `(start_time, state)` of `pid`, or `None` if no such process exists.
pub(crate) fn stat_of(pid: u32) -> io::Result<Option<(u64, u8)>> {
    let text = match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(parse_stat(&text))
}

/// Parses `pid (comm) S ppid ...`: the command may hold spaces and parentheses, so fields
/// are counted from the last `)`. Field 3 is the state, field 22 the start time.
fn parse_stat(text: &[u8]) -> Option<(u64, u8)> {
    let close = text.iter().rposition(|&b| b == b')')?;
    let mut fields = text.get(close + 2..)?.split(|&b| b == b' ');
    let state = *fields.next()?.first()?;
    let start = fields.nth(18)?; // fields 4..=21 skipped: 18 of them, then field 22
    let start = std::str::from_utf8(start).ok()?.trim().parse().ok()?;
    Some((start, state))
}

/// Which presence a [`PresenceLock`] announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Producer = 0,
    Consumer = 1,
}

/// Lock bytes live far past any segment's end (locks beyond EOF are allowed and cost
/// nothing); each role has its own byte.
const LOCK_BASE: i64 = 1 << 40;

fn flock(kind: libc::c_int, role: Role) -> libc::flock {
    // SAFETY: `flock` is a plain C struct for which all-zero bytes are valid.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = LOCK_BASE + role as i64;
    fl.l_len = 1;
    fl
}

/// Opens a fresh open file description of the same file as `fd`.
pub(crate) fn reopen(fd: RawFd) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{fd}\0");
    // SAFETY: `path` is NUL-terminated and lives across the call.
    let raw = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// A shared OFD lock announcing "a handle of this role is open". Releasing it (or
/// dropping it) closes the description; the lock then lives on only in processes that
/// inherited the description.
#[derive(Debug)]
pub(crate) struct PresenceLock {
    /// The description's fd, or -1 once released. Atomic so that a handle shared between
    /// threads can be closed through `&self` (`Producer::close`).
    fd: AtomicI32,
}

impl PresenceLock {
    pub(crate) fn acquire(segment_fd: RawFd, role: Role) -> io::Result<PresenceLock> {
        let fd = reopen(segment_fd)?;
        let fl = flock(libc::F_RDLCK, role);
        // SAFETY: `fd` is open; `fl` is a valid flock the kernel only reads.
        let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PresenceLock {
            fd: AtomicI32::new(fd.into_raw_fd()),
        })
    }

    /// A presence already released: holds nothing.
    pub(crate) fn none() -> PresenceLock {
        PresenceLock {
            fd: AtomicI32::new(-1),
        }
    }

    /// Holds `other`'s description from now on, in place of (and releasing) this one's.
    pub(crate) fn replace(&self, other: PresenceLock) {
        // SYNC: as `release`: the swap makes one owner of each fd, the old and the new.
        let old = self.fd.swap(other.into_raw(), Ordering::SeqCst);
        if old >= 0 {
            // SAFETY: `old` was this lock's own fd, which the swap took out of it.
            drop(unsafe { OwnedFd::from_raw_fd(old) });
        }
    }

    /// The description's fd, handed over to the caller (-1 if already released).
    pub(crate) fn into_raw(self) -> RawFd {
        // SYNC: as `release`: one owner of the fd.
        let fd = self.fd.swap(-1, Ordering::SeqCst);
        std::mem::forget(self);
        fd
    }

    /// Takes back an fd from [`into_raw`](Self::into_raw).
    ///
    /// # Safety
    /// `fd` came from `into_raw` (or is negative), and nothing else owns it.
    pub(crate) unsafe fn from_raw(fd: RawFd) -> PresenceLock {
        PresenceLock {
            fd: AtomicI32::new(fd),
        }
    }

    /// Closes the description, once: true for the call that did.
    pub(crate) fn release(&self) -> bool {
        // SYNC: SeqCst, ordered with the claim a producer makes before it checks
        // `is_released` (see `Producer::close`).
        let fd = self.fd.swap(-1, Ordering::SeqCst);
        if fd < 0 {
            return false;
        }
        // SAFETY: `fd` came from `into_raw_fd` in `acquire`, and the swap above hands it
        // to exactly one caller.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        true
    }

    /// Whether [`release`](Self::release) has run.
    #[inline]
    pub(crate) fn is_released(&self) -> bool {
        // SYNC: SeqCst, see `release`.
        self.fd.load(Ordering::SeqCst) < 0
    }
}

impl Drop for PresenceLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// True if any description other than `probe`'s holds a presence lock for `role`.
pub(crate) fn anyone_present(probe: RawFd, role: Role) -> io::Result<bool> {
    let mut fl = flock(libc::F_WRLCK, role);
    // SAFETY: `probe` is an open fd; `fl` is a valid flock the kernel reads and writes.
    let rc = unsafe { libc::fcntl(probe, libc::F_OFD_GETLK, &mut fl) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fl.l_type != libc::F_UNLCK as libc::c_short)
}

// Owner words: a process or thread named in one 64-bit word, for the sync primitives'
// lock words and the ring's participant slots.

/// Largest pid Linux can hand out (`PID_MAX_LIMIT` on 64-bit); a larger owner is corruption.
const PID_MAX_LIMIT: u32 = 1 << 22;

/// An owner word: `pid_or_tid:32 | start_time_low:32 << 32`; never 0 for a real owner.
pub(crate) fn owner_word(id: u32) -> u64 {
    let start = match stat_of(id) {
        Ok(Some((start, _))) => start as u32,
        // Unknown start time (no /proc): 0 means "check the pid only".
        _ => 0,
    };
    u64::from(id) | (u64::from(start) << 32)
}

static ME_PROCESS: AtomicU64 = AtomicU64::new(0);

/// The calling process's owner word (cached; `fork` invalidates the cache by pid). The
/// first word is kept for the process's life even without a start time (`/proc`
/// unreadable just then, out of fds say): a lock taken under one word and released under
/// another would stay held, and a condition's waiter would wait on its own lock for good.
/// Without the start time, others check this process by pid alone.
pub(crate) fn my_owner_word() -> u64 {
    let pid = current_pid();
    let cached = ME_PROCESS.load(Ordering::Relaxed);
    if cached != 0 && cached as u32 == pid {
        return cached;
    }
    let w = owner_word(pid);
    // Two threads may race here with different words (one read /proc, one could not):
    // the first stored wins, and both use it.
    match ME_PROCESS.compare_exchange(cached, w, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => w,
        Err(now) if now as u32 == pid => now,
        Err(_) => w,
    }
}

/// Checks that a non-zero owner word names a possible process.
pub(crate) fn check_owner(word: u64) -> Result<(), Corrupted> {
    let id = word as u32;
    if id == 0 || id > PID_MAX_LIMIT {
        return Err(corrupted("a lock word names no possible process"));
    }
    Ok(())
}

/// True while the owner named by `word` runs (a zombie or a recycled pid counts as dead;
/// see [`runs`] for what counts as alive when in doubt). The word keeps only the low 32
/// bits of the start time (0: unknown, check the id only).
pub(crate) fn owner_alive(word: u64) -> bool {
    let (id, start) = (word as u32, (word >> 32) as u32);
    runs(id, |s| start == 0 || s as u32 == start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_odd_command_names() {
        let line = b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 777 1000 2\n";
        assert_eq!(parse_stat(line), Some((777, b'S')));
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn current_process_is_alive_and_a_fake_one_is_not() {
        let me = ProcessId::current().unwrap();
        assert!(me.is_alive());
        let older = ProcessId {
            start_time: me.start_time.wrapping_add(1),
            ..me
        };
        assert!(!older.is_alive());
    }

    /// Waits until `cond` holds, however long: the caller's watchdog is the limit.
    fn wait_until(cond: impl Fn() -> bool) {
        while !cond() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// A process whose main thread has exited while another thread runs shows as a zombie
    /// in `/proc/PID/stat`; it is alive until its last thread ends. The other thread waits
    /// for the parent's word (the end of a pipe), so the parent's checks cannot race it.
    #[test]
    fn a_process_whose_main_thread_exited_is_alive_while_a_thread_runs() {
        let _serial = crate::testing::serial();
        let _w = crate::testing::watchdog("main_thread_exited", 30);
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read_end, write_end] = fds;
        let child = crate::testing::fork(|| {
            // SAFETY: closes this child's copy of the write end, so the parent's close is
            // the end of the pipe; the thread then blocks in `read` until that.
            unsafe { libc::close(write_end) };
            std::thread::spawn(move || {
                let mut b = 0u8;
                // SAFETY: reads at most one byte into `b`.
                unsafe { libc::read(read_end, (&raw mut b).cast(), 1) };
            });
            // SAFETY: the raw `exit` system call ends this thread only, which is the point:
            // the other thread keeps the process running, then ends it with status 0.
            unsafe { libc::syscall(libc::SYS_exit, 0) };
            unreachable!()
        });
        // SAFETY: the parent's copy of the read end, which it does not use.
        unsafe { libc::close(read_end) };
        let id = child as u32;
        let word = owner_word(id);
        // The main thread has exited.
        wait_until(|| stat_of(id).ok().flatten().is_some_and(|(_, s)| s == b'Z'));
        assert!(
            owner_alive(word),
            "a process with a running thread counts as dead"
        );
        let (start_time, _) = stat_of(id).unwrap().unwrap();
        assert!(ProcessId {
            pid: id,
            start_time
        }
        .is_alive());
        // SAFETY: our write end; closing it lets the child's thread, and so the child, end.
        unsafe { libc::close(write_end) };
        // Once its last thread ends it is a zombie for good: dead, though not reaped. (A
        // zombie counted alive leaves this waiting, and the watchdog fails the test.)
        wait_until(|| !owner_alive(word));
        assert_eq!(crate::testing::reap(child), Ok(0));
    }

    /// A pid missing from `/proc` is asked of the kernel: pid 1 exists (signalled or not),
    /// a reaped child does not.
    #[test]
    fn the_kernel_knows_live_pids_and_not_reaped_ones() {
        let _serial = crate::testing::serial();
        let _w = crate::testing::watchdog("kernel_knows_pids", 30);
        assert!(known_to_the_kernel(1));
        assert!(known_to_the_kernel(std::process::id()));
        let child = crate::testing::fork(|| 0);
        assert_eq!(crate::testing::reap(child), Ok(0));
        assert!(!known_to_the_kernel(child as u32));
        assert!(
            !known_to_the_kernel(0),
            "0 names a process group, not a process"
        );
        assert!(!known_to_the_kernel(u32::MAX));
    }

    /// With `/proc` mounted `hidepid=2`, another user's processes have no `/proc/PID`;
    /// they still count as alive. Runs where this process may make a mount namespace
    /// (root, as in CI containers); says so and passes elsewhere.
    #[test]
    fn a_process_hidden_by_hidepid_is_alive() {
        let _serial = crate::testing::serial();
        let _w = crate::testing::watchdog("hidepid", 30);
        let parent = owner_word(std::process::id());
        let child = crate::testing::fork(|| {
            // SAFETY: plain system calls with valid NUL-terminated strings, in a
            // single-threaded child that leaves with `_exit`.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS) != 0
                    || libc::mount(
                        c"none".as_ptr(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    ) != 0
                    || libc::mount(
                        c"proc".as_ptr(),
                        c"/proc".as_ptr(),
                        c"proc".as_ptr(),
                        0,
                        c"hidepid=2".as_ptr().cast(),
                    ) != 0
                    || libc::setgid(65534) != 0
                    || libc::setuid(65534) != 0
                {
                    return 77; // no privilege for the setup
                }
            }
            if !matches!(stat_of(parent as u32), Ok(None)) {
                return 78; // hidepid did not hide it (or hid it another way)
            }
            i32::from(!owner_alive(parent))
        });
        match crate::testing::reap(child) {
            Ok(0) => {}
            Ok(77) => eprintln!("hidepid test skipped: cannot mount /proc in a namespace"),
            Ok(78) => eprintln!("hidepid test skipped: hidepid=2 hid nothing here"),
            other => panic!("a process hidden by hidepid counted as dead: {other:?}"),
        }
    }
}
