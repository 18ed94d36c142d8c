//! The spawn start method: re-execute `/proc/self/exe` and let the hook run the entry.
//!
//! Parent: the [`Payload`] goes into a memfd; a pipe carries the child's acknowledgement.
//! `posix_spawn` (glibc uses `CLONE_VFORK`: safe and cheap in a multi-threaded parent)
//! starts the binary with `MP_PROCESS_CHILD=<parent pid>:<memfd>:<ack fd>` in its
//! environment and `--mp-process-child` as its only argument. Only those descriptors and
//! the ones given to [`Builder::pass_fd`](crate::Builder::pass_fd) are inherited: a
//! `dup2(fd, fd)` file action clears `FD_CLOEXEC` in the child alone.
//!
//! Child: [`init`](crate::init) or the [`hook!`](crate::hook) finds the variable, checks
//! that our parent is the pid it names (a grandchild that inherited the environment
//! ignores it), reads the payload, acknowledges, runs the entry and exits. It never
//! returns to `main`.
//!
//! Missing hook: the parent waits for the acknowledgement. A child that exits first, or
//! stays silent for [`HOOK_TIMEOUT`], gives [`StartError::is_hook_missing`]. A test
//! binary without the hook rejects the unknown `--mp-process-child` option and exits at
//! once, so it never reruns its tests.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use crate::child;
use crate::entry::{Args, Payload, KIND_ENTRY, KIND_FORKSERVER};
use crate::error::StartError;
use crate::{forkserver, sys};

const ENV: &str = "MP_PROCESS_CHILD";
const MARKER: &str = "--mp-process-child";

/// How long a spawned child may take to reach the hook before the parent gives up,
/// kills it and reports the hook as missing.
pub(crate) const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts `/proc/self/exe` as a child that runs `payload`; returns its pid and pidfd
/// once the child has acknowledged.
pub(crate) fn spawn(
    payload: &Payload,
    pass: &[RawFd],
) -> Result<(libc::pid_t, OwnedFd), StartError> {
    let bytes = payload.to_bytes()?;
    let memfd = sys::memfd_with(&bytes).map_err(|e| StartError::os("memfd_create", e))?;
    let (ack_r, ack_w) = sys::pipe().map_err(|e| StartError::os("pipe", e))?;
    check_passed(pass)?;
    let value = format!(
        "{}:{}:{}",
        sys::getpid(),
        memfd.as_raw_fd(),
        ack_w.as_raw_fd()
    );
    let mut inherit = vec![memfd.as_raw_fd(), ack_w.as_raw_fd()];
    inherit.extend_from_slice(pass);
    let pid = posix_spawn_self(&value, &inherit).map_err(|e| StartError::os("posix_spawn", e))?;
    drop(ack_w);
    drop(memfd);
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) => {
            sys::kill_and_reap(pid);
            return Err(StartError::os("pidfd_open", e));
        }
    };
    match await_ack(&ack_r) {
        Ok(()) => Ok((pid, pidfd)),
        Err(why) => {
            // Give a child that is exiting a moment to do so, so its code can be reported.
            let exited = sys::wait_readable(
                pidfd.as_fd(),
                ipc_core::deadline_after(Duration::from_secs(1)),
            )
            .unwrap_or(false);
            if !exited {
                let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            }
            let status = sys::wait_blocking(pid).map(sys::exit_code);
            Err(match why {
                Ack::Error(msg) => StartError::child(msg),
                Ack::Silent(what) => {
                    let code = match status {
                        Ok(c) if exited => format!("{what}; it exited with code {c}"),
                        _ => format!("{what}; it was killed"),
                    };
                    StartError::hook_missing(code)
                }
            })
        }
    }
}

/// Checks that each descriptor given to [`Builder::pass_fd`](crate::Builder::pass_fd) is
/// open, before a start.
pub(crate) fn check_passed(pass: &[RawFd]) -> Result<(), StartError> {
    if let Some(&fd) = pass.iter().find(|&&fd| !sys::is_open(fd)) {
        return Err(StartError::os(
            &format!("descriptor {fd} given to pass_fd"),
            io::Error::from_raw_os_error(libc::EBADF),
        ));
    }
    Ok(())
}

enum Ack {
    Error(String),
    Silent(String),
}

fn await_ack(ack: &OwnedFd) -> Result<(), Ack> {
    let ready = sys::wait_readable(ack.as_fd(), ipc_core::deadline_after(HOOK_TIMEOUT))
        .map_err(|e| Ack::Silent(format!("polling for it failed: {e}")))?;
    if !ready {
        return Err(Ack::Silent(format!(
            "no sign of it within {} s",
            HOOK_TIMEOUT.as_secs()
        )));
    }
    let mut buf = vec![0u8; 4096];
    let mut file = std::fs::File::from(ack.try_clone().map_err(|e| Ack::Silent(e.to_string()))?);
    let n = io::Read::read(&mut file, &mut buf).unwrap_or(0);
    match buf.first() {
        Some(b'K') if n >= 1 => Ok(()),
        Some(b'E') if n >= 1 => Err(Ack::Error(String::from_utf8_lossy(&buf[1..n]).into_owned())),
        _ => Err(Ack::Silent("it ended without a word".to_owned())),
    }
}

/// A NUL-terminated C string; interior NULs cannot occur in environment entries.
fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::other("NUL byte in an argument"))
}

fn posix_spawn_self(value: &str, inherit: &[RawFd]) -> io::Result<libc::pid_t> {
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| "mp-process-child".into());
    let argv_c = [cstring(argv0.as_bytes())?, cstring(MARKER.as_bytes())?];
    let mut env_c = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k == OsStr::new(ENV) {
            continue;
        }
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        env_c.push(cstring(&kv)?);
    }
    env_c.push(cstring(format!("{ENV}={value}").as_bytes())?);
    let argv: Vec<*mut libc::c_char> = argv_c
        .iter()
        .map(|c| c.as_ptr() as *mut libc::c_char)
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect();
    let envp: Vec<*mut libc::c_char> = env_c
        .iter()
        .map(|c| c.as_ptr() as *mut libc::c_char)
        .chain(std::iter::once(std::ptr::null_mut()))
        .collect();
    let mut actions = FileActions::new()?;
    for &fd in inherit {
        actions.dup2_keep(fd)?;
    }
    let attr = SpawnAttr::new()?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer refers to a live, NUL-terminated string or null-terminated
    // array built above; `actions` and `attr` are initialised.
    let rc = unsafe {
        libc::posix_spawn(
            &mut pid,
            c"/proc/self/exe".as_ptr(),
            &actions.0,
            &attr.0,
            argv.as_ptr(),
            envp.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(pid)
}

struct FileActions(libc::posix_spawn_file_actions_t);

impl FileActions {
    fn new() -> io::Result<Box<FileActions>> {
        // SAFETY: zeroed storage is what posix_spawn_file_actions_init expects to fill.
        let mut fa = Box::new(FileActions(unsafe { std::mem::zeroed() }));
        // SAFETY: `fa.0` is valid writable storage for the object.
        let rc = unsafe { libc::posix_spawn_file_actions_init(&mut fa.0) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(fa)
    }

    /// `dup2(fd, fd)` in the child: glibc clears `FD_CLOEXEC` for that case (POSIX 2024).
    fn dup2_keep(&mut self, fd: RawFd) -> io::Result<()> {
        // SAFETY: `self.0` is an initialised file-actions object we own exclusively.
        let rc = unsafe { libc::posix_spawn_file_actions_adddup2(&mut self.0, fd, fd) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(())
    }
}

impl Drop for FileActions {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawn_file_actions_destroy(&mut self.0) };
    }
}

struct SpawnAttr(libc::posix_spawnattr_t);

impl SpawnAttr {
    fn new() -> io::Result<Box<SpawnAttr>> {
        // SAFETY: zeroed storage is what posix_spawnattr_init expects to fill.
        let mut a = Box::new(SpawnAttr(unsafe { std::mem::zeroed() }));
        // SAFETY: `a.0` is valid writable storage.
        let rc = unsafe { libc::posix_spawnattr_init(&mut a.0) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: an all-zero sigset is valid storage; sigemptyset initialises it.
        let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `empty` is valid storage for a sigset.
        unsafe { libc::sigemptyset(&mut empty) };
        // SAFETY: `a.0` is initialised; `empty` is a valid sigset. The child starts with
        // no blocked signal, whatever the spawning thread blocks.
        let rc1 = unsafe { libc::posix_spawnattr_setsigmask(&mut a.0, &empty) };
        // SAFETY: `a.0` is initialised.
        let rc2 =
            unsafe { libc::posix_spawnattr_setflags(&mut a.0, libc::POSIX_SPAWN_SETSIGMASK as _) };
        let rc = if rc1 != 0 { rc1 } else { rc2 };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(a)
    }
}

impl Drop for SpawnAttr {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { libc::posix_spawnattr_destroy(&mut self.0) };
    }
}

/// Whether this process was started by [`spawn`]: `--mp-process-child` is its only
/// argument.
fn started_as_child() -> bool {
    let mut args = std::env::args_os().skip(1);
    args.next().is_some_and(|a| a == MARKER) && args.next().is_none()
}

/// The child side, run by [`init`](crate::init) and [`hook!`](crate::hook): does nothing
/// unless this process is a child we spawned, in which case it never returns.
pub(crate) fn child_hook() {
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    let Some((parent, memfd, ack)) = parse(value.as_bytes()) else {
        return;
    };
    // SAFETY: getppid has no preconditions.
    let parent_alive = parent == unsafe { libc::getppid() };
    if !parent_alive || !sys::is_open(memfd) || !sys::is_open(ack) {
        if !parent_alive && started_as_child() {
            // We are the child it started, and it died before we got here: returning
            // would run the program's `main` as an orphan.
            eprintln!("mp-process: spawned by process {parent}, which is gone; exiting");
            sys::exit_now(1);
        }
        // Inherited by a grandchild (the variable, not our arguments): not ours to run.
        return;
    }
    // Ours: the variable has done its work. Removed, so that an `init()` the entry calls
    // again, or a child it starts some other way, finds nothing to act on. The hook runs
    // first thing in the process (before `main`, or first in it), with no other thread.
    std::env::remove_var(ENV);
    // SAFETY: the parent handed these two descriptors to this process alone (their
    // numbers come with our parent's pid, checked above); nothing else here owns them.
    let (memfd, ack) = unsafe { (OwnedFd::from_raw_fd(memfd), OwnedFd::from_raw_fd(ack)) };
    let _ = sys::set_cloexec(memfd.as_raw_fd(), true);
    let _ = sys::set_cloexec(ack.as_raw_fd(), true);
    let payload = sys::read_all_at0(memfd.as_fd())
        .map_err(|e| format!("cannot read the start payload: {e}"))
        .and_then(|b| Payload::from_bytes(&b).map_err(|e| e.to_string()));
    drop(memfd);
    let payload = match payload {
        Ok(p) => p,
        Err(e) => {
            child::ack(&ack, Err(e));
            sys::exit_now(1);
        }
    };
    match payload.kind {
        KIND_ENTRY => {
            // Before the parent hears we started: the rings we were given count us as
            // present from now on, so the parent may drop its own copies at once.
            for &fd in payload.fds.iter().filter(|&&fd| fd > 2) {
                ipc_core::ring::hold_inherited(fd);
            }
            child::ack(&ack, Ok(()));
            drop(ack);
            child::run_payload(payload, parent)
        }
        KIND_FORKSERVER => forkserver::serve(payload, ack),
        k => {
            child::ack(&ack, Err(format!("unknown start payload kind {k}")));
            sys::exit_now(1)
        }
    }
}

fn parse(v: &[u8]) -> Option<(libc::pid_t, RawFd, RawFd)> {
    let s = std::str::from_utf8(v).ok()?;
    let mut it = s.split(':').map(str::parse::<i32>);
    let out = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    it.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_variable_strictly() {
        assert_eq!(super::parse(b"12:5:6"), Some((12, 5, 6)));
        assert_eq!(super::parse(b"12:5"), None);
        assert_eq!(super::parse(b"12:5:6:7"), None);
        assert_eq!(super::parse(b"a:5:6"), None);
    }
}
