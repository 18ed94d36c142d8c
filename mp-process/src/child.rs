//! The child's side: become the new process, run the target, leave.
//!
//! Whatever the start method, a child ends here: its identity is set (name, daemon,
//! parent), a daemon arranges to die with its parent, the target runs under
//! `catch_unwind` (a panic is exit code 1, its message already printed on stderr by the
//! panic hook), stdout and stderr are flushed, and the process leaves with `_exit`:
//! it never unwinds or returns into code that belongs to the parent's stack.

use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};

use ipc_core::ProcessId;

use crate::entry::{EntryCall, Payload};
use crate::state::{Me, ParentInfo, S};
use crate::sys;

/// Runs `body` as this child's whole life and exits with its code.
///
/// `daemon_parent`: for a daemon, the pid of the process whose death must kill us.
pub(crate) fn run_child(me: Me, daemon_parent: Option<libc::pid_t>, body: impl FnOnce()) -> ! {
    S.me.set(me);
    run_as_child(daemon_parent, body)
}

/// [`run_child`] once the identity is in place.
pub(crate) fn run_as_child(daemon_parent: Option<libc::pid_t>, body: impl FnOnce()) -> ! {
    if let Some(parent) = daemon_parent {
        sys::die_with_parent(parent);
    }
    let code = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(()) => 0,
        Err(_) => 1,
    };
    // Python's child runs `util._exit_function` here: its daemon children terminated,
    // the others joined, so the parent's `join` covers them too.
    let _ = catch_unwind(crate::shutdown);
    sys::exit_now(code)
}

/// Runs the entry call a spawned or forkserver child received. `creator` is the pid of
/// the process that forked or spawned us (the forkserver, or the parent).
pub(crate) fn run_payload(p: Payload, creator: libc::pid_t) -> ! {
    for &fd in &p.fds {
        // Keep the handed-over descriptors usable, but not leaked into a later exec.
        let _ = sys::set_cloexec(fd, true);
    }
    let me = Me {
        name: p.name,
        daemon: p.daemon,
        identity: p.identity,
        parent: Some(ParentInfo {
            id: ProcessId {
                pid: p.parent_pid,
                start_time: p.parent_start_time,
            },
            name: p.parent_name,
        }),
    };
    let call = EntryCall {
        trampoline: p.trampoline,
        entry: p.entry,
        args: p.args,
    };
    let check = p.check;
    run_child(me, p.daemon.then_some(creator), move || {
        if let Err(e) = call.run(check) {
            eprintln!("mp_process: the child cannot run its entry function: {e}");
            sys::exit_now(1);
        }
    })
}

/// Writes the one-byte "alive and set up" acknowledgement, or `E` plus a message.
pub(crate) fn ack(fd: &impl AsRawFd, result: Result<(), String>) {
    let mut msg = Vec::new();
    match result {
        Ok(()) => msg.push(b'K'),
        Err(e) => {
            msg.push(b'E');
            msg.extend_from_slice(e.as_bytes());
        }
    }
    // SAFETY: writes from a live buffer of the given length.
    unsafe { libc::write(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len()) };
}
