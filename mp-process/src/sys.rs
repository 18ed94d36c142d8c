//! Thin, checked wrappers over the Linux calls this crate needs: pidfds, `waitpid`,
//! `poll`, memfds, pipes, `SCM_RIGHTS`/`SCM_CREDENTIALS` messages. Each returns an
//! `io::Result`; none panics.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;

pub(crate) fn errno() -> io::Error {
    io::Error::last_os_error()
}

/// Turns a `-1` return into the current errno.
fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc < 0 {
        Err(errno())
    } else {
        Ok(rc)
    }
}

/// Takes ownership of a fresh fd returned by a syscall.
fn owned(rc: libc::c_long) -> io::Result<OwnedFd> {
    let fd = check(rc)? as RawFd;
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A pidfd for `pid` (close-on-exec): pollable, readable once the process has exited.
pub(crate) fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    owned(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// Sends `sig` through a pidfd: never hits a recycled pid. A process that already
/// exited is not an error.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> io::Result<()> {
    let null = std::ptr::null::<libc::siginfo_t>();
    // SAFETY: integer arguments and a null siginfo, which the kernel accepts.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, null, 0) };
    match check(rc) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
        r => r.map(drop),
    }
}

/// Waits until `fd` is readable (or hung up), at most until `deadline`.
/// Returns false on timeout. `EINTR` retries with the remaining time.
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<bool> {
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                // Round up so that a wait never ends before its deadline.
                let ms = left.as_nanos().div_ceil(1_000_000);
                ms.min(i32::MAX as u128) as i32
            }
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd.
        let rc = unsafe { libc::poll(&mut p, 1, timeout_ms) };
        match rc {
            r if r > 0 => return Ok(true),
            0 if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
            0 => continue,
            _ => {
                let e = errno();
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(e);
                }
            }
        }
    }
}

/// True if `fd` is readable right now.
pub(crate) fn is_readable(fd: BorrowedFd<'_>) -> io::Result<bool> {
    wait_readable(fd, Some(Instant::now()))
}

/// `waitpid(pid, WNOHANG)`: `Some(raw status)` once reaped, `None` while running.
pub(crate) fn try_wait(pid: libc::pid_t) -> io::Result<Option<libc::c_int>> {
    wait_flags(pid, libc::WNOHANG)
}

/// Reaps the child `pidfd` refers to if it has exited: `Some(exitcode)` (Python's: the
/// code, or minus the signal), `None` while it runs. By pidfd (`waitid(P_PIDFD)`), not by
/// pid: if something else reaped the child and its pid went to another child of ours
/// (a `std::process::Command`, say), that one's status is never taken. On a kernel
/// without `P_PIDFD` (before 5.4), by pid.
pub(crate) fn try_wait_pidfd(pid: libc::pid_t, pidfd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    loop {
        // SAFETY: an all-zero siginfo_t is a valid out-value; `si_pid` stays 0 unless a
        // child was reaped (WNOHANG).
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid out-pointer; the pidfd is open.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOHANG,
            )
        };
        if rc == 0 {
            // SAFETY: waitid filled `info` in for SIGCHLD (or left it zeroed).
            let (reaped, status) = unsafe { (info.si_pid(), info.si_status()) };
            if reaped == 0 {
                return Ok(None);
            }
            return Ok(Some(if info.si_code == libc::CLD_EXITED {
                status
            } else {
                -status // killed or dumped: the signal
            }));
        }
        let e = errno();
        match e.raw_os_error() {
            Some(libc::EINTR) => {}
            Some(libc::EINVAL) => return try_wait(pid).map(|s| s.map(exit_code)),
            _ => return Err(e),
        }
    }
}

/// Blocking `waitpid(pid, 0)`, retrying on `EINTR`.
pub(crate) fn wait_blocking(pid: libc::pid_t) -> io::Result<libc::c_int> {
    wait_flags(pid, 0).map(|s| s.unwrap_or(0))
}

/// Kills (SIGKILL) and reaps `pid`, which must be this process's unreaped child (so the
/// pid cannot have been recycled): no zombie is left behind.
pub(crate) fn kill_and_reap(pid: libc::pid_t) {
    // SAFETY: sends a signal; no memory is involved. An unreaped child keeps its pid.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let _ = wait_blocking(pid);
}

/// Kills (SIGKILL) and reaps the child `pidfd` refers to, with `pid` its pid. By pidfd,
/// not pid: a child reaped already by someone else (a parent ignoring SIGCHLD, a
/// `waitpid(-1)`) may have had its pid given to an unrelated process.
pub(crate) fn kill_and_reap_pidfd(pid: libc::pid_t, pidfd: BorrowedFd<'_>) {
    if pidfd_send_signal(pidfd, libc::SIGKILL).is_err() {
        return; // reaped already (ESRCH): nothing to do, and the pid is not ours
    }
    // SAFETY: an all-zero siginfo_t is a valid out-value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `info` is a valid out-pointer; the pidfd is open.
        let rc = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED,
            )
        };
        let e = errno().raw_os_error();
        match (rc, e) {
            (0, _) | (_, Some(libc::ECHILD)) => return,
            (_, Some(libc::EINTR)) => {}
            // A kernel without P_PIDFD (before 5.4): the signal reached our child, so
            // until we reap it, its pid is still its own.
            _ => {
                let _ = wait_blocking(pid);
                return;
            }
        }
    }
}

fn wait_flags(pid: libc::pid_t, flags: libc::c_int) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer.
        let rc = unsafe { libc::waitpid(pid, &mut status, flags) };
        if rc == pid {
            return Ok(Some(status));
        }
        if rc == 0 {
            return Ok(None);
        }
        let e = errno();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Python's `exitcode` for a raw wait status: the exit code, or minus the signal.
pub(crate) fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFSIGNALED(status) {
        -libc::WTERMSIG(status)
    } else {
        libc::WEXITSTATUS(status)
    }
}

/// A close-on-exec memfd holding `bytes`, positioned at 0.
pub(crate) fn memfd_with(bytes: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: the name is a NUL-terminated literal.
    let fd = owned(
        unsafe { libc::memfd_create(c"mp-process-args".as_ptr(), libc::MFD_CLOEXEC) }
            as libc::c_long,
    )?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, bytes)?;
    std::io::Seek::rewind(&mut file)?;
    Ok(file.into())
}

/// Reads a whole memfd from offset 0.
pub(crate) fn read_all_at0(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: `buf` is valid for `buf.len()` writable bytes.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                out.len() as libc::off_t,
            )
        };
        match n {
            0 => return Ok(out),
            n if n > 0 => out.extend_from_slice(&buf[..n as usize]),
            _ => {
                let e = errno();
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(e);
                }
            }
        }
    }
}

/// A close-on-exec pipe: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is valid for two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Whether `fd` is an open pipe (FIFO).
pub(crate) fn is_fifo(fd: RawFd) -> bool {
    // SAFETY: `stat` is a plain C struct for which all-zero bytes are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes only into `st`; a closed `fd` is an error.
    unsafe { libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFIFO }
}

/// A close-on-exec `SOCK_SEQPACKET` socket pair.
pub(crate) fn seqpacket_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    let ty = libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is valid for two ints.
    check(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) } as libc::c_long)?;
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Asks the kernel to attach the sender's verified pid/uid/gid to every message `fd`
/// receives.
pub(crate) fn set_passcred(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a valid int of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PASSCRED,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    check(rc as libc::c_long).map(drop)
}

/// Sets or clears `FD_CLOEXEC` on `fd`.
pub(crate) fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: fcntl on an integer fd; fails with EBADF if it is not open.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flag) } as libc::c_long).map(drop)
}

/// True if `fd` is an open descriptor.
pub(crate) fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Most fds one message may carry (the kernel's `SCM_MAX_FD` is 253).
pub(crate) const MAX_FDS: usize = 250;

/// Room for `MAX_FDS` descriptors plus one `ucred`.
const CMSG_ROOM: usize = 4096;

#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_ROOM]);

/// Sends one message with `fds` attached (`SCM_RIGHTS`).
pub(crate) fn send_with_fds(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::other(format!(
            "{} descriptors to pass; at most {MAX_FDS} fit in one message",
            fds.len()
        )));
    }
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut cbuf = CmsgBuf([0; CMSG_ROOM]);
    // SAFETY: `msghdr` is a plain C struct; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE is a pure size computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(data_len) } as _;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        // SAFETY: msg_control points at a zeroed, aligned buffer of at least
        // msg_controllen bytes, so the first header exists.
        let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        // SAFETY: `cmsg` points into `cbuf` (non-null: controllen >= one header);
        // CMSG_DATA leaves room for `data_len` bytes by the CMSG_SPACE above.
        unsafe {
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                data_len as usize,
            );
        }
    }
    loop {
        // SAFETY: `msg` and everything it points to live across the call.
        let rc = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if rc >= 0 {
            return Ok(());
        }
        let e = errno();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// One received message.
#[derive(Debug)]
pub(crate) struct Received {
    /// Bytes of the message (0 means the peer closed the socket).
    pub(crate) len: usize,
    /// Descriptors that came with it, close-on-exec, owned here.
    pub(crate) fds: Vec<OwnedFd>,
    /// The sender's kernel-verified pid, when the socket has `SO_PASSCRED`.
    pub(crate) sender_pid: Option<libc::pid_t>,
    /// Some descriptors sent with it were dropped (`MSG_CTRUNC`: this process at its
    /// descriptor limit); the bytes are whole.
    pub(crate) truncated: bool,
}

/// Receives one message into `buf`, with its descriptors and credentials.
pub(crate) fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = CmsgBuf([0; CMSG_ROOM]);
    // SAFETY: `msghdr` is a plain C struct; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.0.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_ROOM as _;
    let n = loop {
        // SAFETY: `msg` points at live buffers of the sizes it states.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = errno();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    };
    let mut out = Received {
        len: n,
        fds: Vec::new(),
        sender_pid: None,
        truncated: false,
    };
    // SAFETY: `msg` was filled in by recvmsg; CMSG_FIRSTHDR/NXTHDR walk the control
    // buffer within msg_controllen as the kernel wrote it.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: a non-null cmsg from CMSG_FIRSTHDR/NXTHDR points at a whole header.
        let (level, ty, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
        // SAFETY: pure size computation.
        let data_len = len.saturating_sub(unsafe { libc::CMSG_LEN(0) } as usize);
        // SAFETY: the data follows the header inside the control buffer.
        let data = unsafe { libc::CMSG_DATA(cmsg) };
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            for i in 0..data_len / std::mem::size_of::<RawFd>() {
                // SAFETY: the kernel wrote `data_len` bytes of ints; unaligned read
                // because CMSG_DATA gives no alignment promise to Rust.
                let fd = unsafe { data.cast::<RawFd>().add(i).read_unaligned() };
                // SAFETY: each received fd is new in this process and ours alone.
                out.fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        } else if level == libc::SOL_SOCKET
            && ty == libc::SCM_CREDENTIALS
            && data_len >= std::mem::size_of::<libc::ucred>()
        {
            // SAFETY: the kernel wrote a whole ucred here.
            let cred = unsafe { data.cast::<libc::ucred>().read_unaligned() };
            out.sender_pid = Some(cred.pid);
        }
        // SAFETY: walks to the next header or null, within the buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    out.truncated = msg.msg_flags & libc::MSG_CTRUNC != 0;
    Ok(out)
}

/// Closes every descriptor in `lo..=hi`.
pub(crate) fn close_range(lo: u32, hi: u32) {
    if lo > hi {
        return;
    }
    // SAFETY: closes descriptors in a range; the caller owns that no live Rust object
    // still uses them (this runs in a freshly forked child before user code).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
    if rc < 0 {
        let max = hi.min(65_535);
        for fd in lo..=max {
            // SAFETY: as above, one descriptor at a time.
            unsafe { libc::close(fd as RawFd) };
        }
    }
}

/// Flushes Rust's stdout (stderr is unbuffered), then leaves at once with `code`: no
/// exit handlers, no unwinding into anyone's stack.
pub(crate) fn exit_now(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: `_exit` ends the process; nothing runs after it.
    unsafe { libc::_exit(code) }
}

/// Ends the calling process with SIGKILL, as if its parent's death had killed it.
pub(crate) fn die_by_sigkill() -> ! {
    // SAFETY: signals the calling process.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    exit_now(137)
}

/// Sets `PR_SET_PDEATHSIG(SIGKILL)`, then checks that the parent is still `parent`:
/// if it already died (the race the flag cannot cover), dies now.
pub(crate) fn die_with_parent(parent: libc::pid_t) {
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        die_by_sigkill();
    }
}

/// `getpid()`.
pub(crate) fn getpid() -> libc::pid_t {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}
