//! The forkserver start method: a small single-threaded server forks children on request.
//!
//! The server is a fresh image of this binary, started with the spawn machinery the first
//! time a forkserver child is asked for (so the parent may be multi-threaded and hold any
//! lock: the server inherits none of its memory). It runs inside [`init`](crate::init) /
//! [`hook!`](crate::hook) and never returns to `main`.
//!
//! Protocol on a `SOCK_SEQPACKET` socket pair (one message per datagram):
//!
//! | direction | bytes | descriptors (`SCM_RIGHTS`) |
//! |---|---|---|
//! | parent -> server | `S`, n: u32, n target numbers: i32 | payload memfd (target -1), then the fds to install at those numbers (stdio and `pass_fd`) |
//! | parent -> server | `K`, pid: i32 | (kill that child of yours: its `P` came without its pidfd; no reply) |
//! | server -> parent | `P`, pid: i32 | the child's pidfd |
//! | server -> parent | `F`, errno: i32 | (fork failed) |
//! | server -> parent | `X`, pid: i32, raw wait status: i32 (-1: could not be had) | (a child exited) |
//!
//! Only the parent may ask: the server's end has `SO_PASSCRED`, so the kernel stamps every
//! request with its sender's pid, and the server drops any request not from the pid that
//! started it (a forked child of the parent that kept the socket, say). The parent's end
//! is close-on-exec and closed in every forked child by an atfork handler.
//!
//! Lifetime: the server holds a pidfd of its parent and exits when the parent exits (by
//! any means, SIGKILL included) or closes the socket. Daemon children die with it
//! (`PR_SET_PDEATHSIG` towards the server); other children live on. The server ignores
//! SIGINT, as Python's does, so a Ctrl-C reaches the parent and the children only.
//!
//! The server reaps its children and reports each exit status; the parent learns that a
//! child ended from the child's pidfd and then reads its status from the socket.
//!
//! A start is reported (`P`) only once the child holds the rings among the descriptors it
//! was passed ([`ipc_core::ring::hold_inherited`]), so a parent may drop its own handle
//! right after `start`. The child says so on a pipe of that start's own, installed beside
//! the passed descriptors; the server waits for it at most [`READY_LIMIT`], and a child
//! that dies first closes the pipe.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::child;
use crate::entry::{Args, Payload, KIND_FORKSERVER};
use crate::error::StartError;
use crate::state::{self, S};
use crate::{spawn, sys};

/// The parent's connection to its forkserver (in [`S`], none until first used).
pub(crate) struct Client {
    sock: OwnedFd,
    server_pid: libc::pid_t,
    /// The server's pidfd: it is killed through this, never by a pid that may have been
    /// reused once it was reaped.
    server: OwnedFd,
    /// Exit statuses reported by the server and not yet asked for, by start.
    exited: HashMap<Started, libc::c_int>,
    /// The start of each pid not yet reported exited. The server reports a child's exit
    /// before its pid can be given to a newer child, so an exit report for a pid belongs
    /// to the start here: a reused pid never takes another child's status.
    running: HashMap<libc::pid_t, u64>,
    /// Start replies read so far.
    starts: u64,
    dead: bool,
    /// Which server this is: a child of an earlier server that died never gets its
    /// status from this one.
    generation: u64,
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// In the server: the SIGCHLD disposition it inherited, for its children.
static SIGCHLD_INHERITED: AtomicUsize = AtomicUsize::new(libc::SIG_DFL);

/// The status the server reports for a child it could not reap: no wait status is -1
/// (it would read as "stopped"), so the client takes it for "unknown", as a lost one.
const STATUS_LOST: libc::c_int = -1;

impl Client {
    fn launch() -> Result<Client, StartError> {
        let (ours, theirs) = sys::seqpacket_pair().map_err(|e| StartError::os("socketpair", e))?;
        sys::set_passcred(theirs.as_raw_fd()).map_err(|e| StartError::os("SO_PASSCRED", e))?;
        let parent = state::as_parent();
        let payload = Payload {
            kind: KIND_FORKSERVER,
            name: "ForkServer".to_owned(),
            parent_pid: parent.id.pid,
            parent_start_time: parent.id.start_time,
            parent_name: parent.name,
            sock: theirs.as_raw_fd(),
            fds: vec![theirs.as_raw_fd()],
            ..Payload::default()
        };
        let (pid, pidfd) = spawn::spawn(&payload, &[theirs.as_raw_fd()])?;
        drop(theirs);
        S.client_fd.store(ours.as_raw_fd(), Ordering::Relaxed);
        S.server_fd.store(pidfd.as_raw_fd(), Ordering::Relaxed);
        Ok(Client {
            sock: ours,
            server_pid: pid,
            server: pidfd,
            exited: HashMap::new(),
            running: HashMap::new(),
            starts: 0,
            dead: false,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }

    /// Ends and reaps the server (our child): no zombie is left behind.
    fn reap(self) {
        S.client_fd.store(-1, Ordering::Relaxed);
        S.server_fd.store(-1, Ordering::Relaxed);
        drop(self.sock); // a live server sees EOF and exits
        sys::kill_and_reap_pidfd(self.server_pid, self.server.as_fd());
    }

    /// Reads one message and files it: `Ok(Some(reply))` for a start reply.
    fn read_one(&mut self) -> io::Result<Option<Reply>> {
        if let Some(later) = S.forget_later.get() {
            for which in std::mem::take(&mut *state::lock(later)) {
                self.exited.remove(&which);
            }
        }
        let mut buf = [0u8; 64];
        let r = match sys::recv_with_fds(self.sock.as_fd(), &mut buf) {
            Ok(r) if r.len > 0 => r,
            Ok(_) => {
                self.dead = true;
                return Err(io::Error::other("the forkserver exited"));
            }
            Err(e) => {
                self.dead = true;
                return Err(e);
            }
        };
        let mut fds = r.fds.into_iter();
        Ok(match parse_reply(&buf[..r.len.min(buf.len())]) {
            Some(Message::Exited(pid, status)) => {
                if let Some(start) = self.running.remove(&pid) {
                    let which = Started {
                        generation: self.generation,
                        start,
                    };
                    self.exited.insert(which, status);
                }
                None
            }
            Some(Message::Started(pid)) => {
                self.starts += 1;
                self.running.insert(pid, self.starts);
                let which = Started {
                    generation: self.generation,
                    start: self.starts,
                };
                match fds.next() {
                    Some(pidfd) => Some(Reply::Started(pid, pidfd, which)),
                    None => {
                        // Its pidfd was dropped (this process at its descriptor limit):
                        // a child nobody could watch, whose start fails and may be
                        // retried. The server kills it, so it never runs beside a retry;
                        // its exit report then files nothing.
                        self.running.remove(&pid);
                        let mut kill = vec![b'K'];
                        kill.extend_from_slice(&pid.to_le_bytes());
                        let _ = sys::send_with_fds(self.sock.as_fd(), &kill, &[]);
                        Some(Reply::Failed(io::Error::other(
                            "the child's pidfd did not arrive (out of descriptors?); \
                             the child was killed",
                        )))
                    }
                }
            }
            Some(Message::ForkFailed(errno)) => {
                Some(Reply::Failed(io::Error::from_raw_os_error(errno)))
            }
            None => {
                // Our own server wrote nonsense: which request a later reply answers is
                // no longer known. Give this server up; the next start launches another.
                self.dead = true;
                return Err(io::Error::other(format!(
                    "malformed forkserver reply ({} bytes)",
                    r.len
                )));
            }
        })
    }
}

/// A message from the server, parsed from exactly its bytes.
#[derive(Debug, PartialEq, Eq)]
enum Message {
    /// `X`, pid, raw wait status.
    Exited(libc::pid_t, libc::c_int),
    /// `P`, pid (its pidfd rides along).
    Started(libc::pid_t),
    /// `F`, errno.
    ForkFailed(i32),
}

/// Parses one server message; `None` for an unknown tag or a wrong length.
fn parse_reply(msg: &[u8]) -> Option<Message> {
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(msg.get(at..at + 4)?.try_into().ok()?))
    };
    match (msg.first()?, msg.len()) {
        (b'X', 9) => Some(Message::Exited(int(1)?, int(5)?)),
        (b'P', 5) => Some(Message::Started(int(1)?)),
        (b'F', 5) => Some(Message::ForkFailed(int(1)?)),
        _ => None,
    }
}

enum Reply {
    Started(libc::pid_t, OwnedFd, Started),
    Failed(io::Error),
}

/// Which forkserver child a handle is: the server's generation (a child of an earlier
/// server that died never gets its status from this one) and the start's number with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Started {
    generation: u64,
    start: u64,
}

/// Asks the forkserver (starting it if needed) for a child that runs `payload` with
/// `pass` installed at the same numbers. Returns the child's pid, its pidfd and which
/// start it was (for [`exit_status`]).
pub(crate) fn start_child(
    payload: &Payload,
    pass: &[RawFd],
) -> Result<(libc::pid_t, OwnedFd, Started), StartError> {
    // Checked here, not left to the send: a send that fails marks the server dead, and
    // restarting it kills every daemon child it runs. The descriptors travel with the
    // payload and the standard streams, in one message.
    crate::spawn::check_passed(pass)?;
    if pass.len() + 4 > sys::MAX_FDS {
        return Err(StartError::os(
            "pass_fd",
            io::Error::other(format!(
                "{} descriptors to pass; the forkserver takes at most {}",
                pass.len(),
                sys::MAX_FDS - 4
            )),
        ));
    }
    let memfd = sys::memfd_with(&payload.to_bytes()?).map_err(|e| StartError::os("memfd", e))?;
    let mut fds = vec![memfd.as_raw_fd()];
    let mut msg = Vec::with_capacity(8 + 4 * (pass.len() + 4));
    let mut targets = vec![-1];
    for fd in 0..3 {
        if sys::is_open(fd) {
            fds.push(fd);
            targets.push(fd);
        }
    }
    fds.extend_from_slice(pass);
    targets.extend_from_slice(pass);
    msg.push(b'S');
    msg.extend_from_slice(&(targets.len() as u32).to_le_bytes());
    for t in &targets {
        msg.extend_from_slice(&t.to_le_bytes());
    }
    let cell = S.client.get_or_init(|| Mutex::new(None));
    let mut guard = state::lock(cell);
    if guard.as_ref().is_none_or(|c| c.dead) {
        if let Some(old) = guard.take() {
            old.reap();
        }
        *guard = Some(Client::launch()?);
    }
    let Some(client) = guard.as_mut() else {
        return Err(StartError::child("no forkserver".to_owned()));
    };
    let fail = |e| StartError::os("forkserver", e);
    if let Err(e) = sys::send_with_fds(client.sock.as_fd(), &msg, &fds) {
        client.dead = true;
        return Err(fail(e));
    }
    loop {
        match client.read_one().map_err(fail)? {
            None => continue,
            Some(Reply::Started(pid, pidfd, which)) => return Ok((pid, pidfd, which)),
            Some(Reply::Failed(e)) => return Err(StartError::os("the forkserver's fork", e)),
        }
    }
}

/// The raw wait status of forkserver child `which`, which has exited (its pidfd said
/// so): `Some(Some(status))`, or `Some(None)` if its server died before reporting it, or
/// could not reap it. The status stays filed, for every caller, until the child's
/// handle is dropped ([`forget_status`]). The report comes moments after the exit; with `block` false, `None`
/// while it has not come yet, or while another thread holds the connection (a start
/// waiting on the server): `is_alive` and `exitcode` never wait, as in Python.
pub(crate) fn exit_status(which: Started, block: bool) -> Option<Option<libc::c_int>> {
    let Some(cell) = S.client.get() else {
        return Some(None);
    };
    let mut guard = if block {
        state::lock(cell)
    } else {
        state::try_lock(cell)?
    };
    let Some(client) = guard.as_mut().filter(|c| c.generation == which.generation) else {
        return Some(None);
    };
    loop {
        if let Some(&status) = client.exited.get(&which) {
            return Some((status != STATUS_LOST).then_some(status));
        }
        if client.dead {
            return Some(None);
        }
        if !block && !sys::is_readable(client.sock.as_fd()).unwrap_or(false) {
            return None;
        }
        // A start reply cannot arrive here: starts hold this lock until theirs comes.
        let _ = client.read_one();
    }
}

/// Forgets the filed exit status of forkserver child `which` (its handle is dropped).
/// Never waits for the connection: if another thread holds it, the status is forgotten
/// by the next reader of the connection ([`Client::read_one`]).
pub(crate) fn forget_status(which: Started) {
    let Some(cell) = S.client.get() else { return };
    match state::try_lock(cell) {
        Some(mut guard) => {
            if let Some(client) = guard.as_mut() {
                client.exited.remove(&which);
            }
        }
        // Its lock is only ever held for a push or a drain, never while waiting.
        None => state::lock(S.forget_later.get_or_init(Mutex::default)).push(which),
    }
}

/// Closes the connection: the server exits; then reaps it.
pub(crate) fn stop() {
    let Some(cell) = S.client.get() else { return };
    if let Some(client) = state::lock(cell).take() {
        client.reap();
    }
}

/// The server's main loop (in the process the hook runs). Never returns.
pub(crate) fn serve(payload: Payload, ack: OwnedFd) -> ! {
    // SAFETY: SIG_IGN for SIGINT changes only this process's disposition.
    unsafe { libc::signal(libc::SIGINT, libc::SIG_IGN) };
    // A parent ignoring SIGCHLD passes that on through exec: the kernel would then reap
    // our children itself, and their statuses would be lost. The server takes the
    // default; each child gets back the one inherited (`child_side`), as in Python.
    // SAFETY: changes only this process's disposition.
    let inherited = unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    SIGCHLD_INHERITED.store(inherited, Ordering::Relaxed);
    let parent_pid = payload.parent_pid as libc::pid_t;
    // SAFETY: the parent handed this descriptor to us alone, named in our payload.
    let sock = unsafe { OwnedFd::from_raw_fd(payload.sock) };
    let parent = match sys::pidfd_open(parent_pid) {
        Ok(fd) => fd,
        Err(e) => {
            child::ack(&ack, Err(format!("forkserver: pidfd_open(parent): {e}")));
            sys::exit_now(1)
        }
    };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent_pid {
        sys::exit_now(0); // the parent died before we could watch it
    }
    child::ack(&ack, Ok(()));
    drop(ack);
    let mut kids: Vec<(libc::pid_t, OwnedFd)> = Vec::new();
    let mut buf = vec![0u8; 8 + 4 * (sys::MAX_FDS + 1)];
    loop {
        let mut polls: Vec<libc::pollfd> = [&sock, &parent]
            .into_iter()
            .chain(kids.iter().map(|(_, fd)| fd))
            .map(|fd| libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `polls` is a live array of that many pollfds.
        let rc = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, -1) };
        if rc < 0 {
            if sys::errno().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            sys::exit_now(1);
        }
        if polls[1].revents != 0 {
            sys::exit_now(0); // the parent exited
        }
        if polls[0].revents != 0 {
            let r = match sys::recv_with_fds(sock.as_fd(), &mut buf) {
                Ok(r) if r.len > 0 => r,
                _ => sys::exit_now(0), // the parent closed its end
            };
            if r.sender_pid == Some(parent_pid) {
                if let Some(pid) = parse_kill(&buf[..r.len]) {
                    // Only a child not yet reaped (in `kids`): its pid is still its own.
                    if kids.iter().any(|&(k, _)| k == pid) {
                        // SAFETY: signals our own unreaped child.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                } else {
                    let reply = if r.truncated {
                        // Some of the descriptors to install were dropped (this server
                        // at its descriptor limit): refuse the start, and go on.
                        let mut m = vec![b'F'];
                        m.extend_from_slice(&libc::EMFILE.to_le_bytes());
                        (m, Vec::new())
                    } else {
                        fork_one(&buf[..r.len], r.fds, &mut kids)
                    };
                    if sys::send_with_fds(sock.as_fd(), &reply.0, &reply.1).is_err() {
                        sys::exit_now(1);
                    }
                }
            }
        }
        let mut i = 0;
        while i < kids.len() {
            if polls.get(2 + i).is_some_and(|p| p.revents != 0) {
                let (pid, _) = kids.remove(i);
                polls.remove(2 + i);
                let status = sys::wait_blocking(pid).unwrap_or(STATUS_LOST);
                let mut msg = vec![b'X'];
                msg.extend_from_slice(&pid.to_le_bytes());
                msg.extend_from_slice(&status.to_le_bytes());
                if sys::send_with_fds(sock.as_fd(), &msg, &[]).is_err() {
                    sys::exit_now(1);
                }
            } else {
                i += 1;
            }
        }
    }
}

/// Handles one start request; returns the reply and keeps the child's pidfd in `kids`.
fn fork_one(
    msg: &[u8],
    mut fds: Vec<OwnedFd>,
    kids: &mut Vec<(libc::pid_t, OwnedFd)>,
) -> (Vec<u8>, Vec<RawFd>) {
    let failed = |errno: i32| {
        let mut m = vec![b'F'];
        m.extend_from_slice(&errno.to_le_bytes());
        (m, Vec::new())
    };
    let Some(targets) = parse_request(msg).filter(|t| t.len() == fds.len() && !t.is_empty()) else {
        return failed(libc::EINVAL);
    };
    let server = sys::getpid();
    // The child's "ready" pipe: its write end goes to the child at the number after every
    // target. Without a pipe, the start is reported at once.
    let passed = targets.len();
    let mut targets = targets;
    let ready = sys::pipe().ok().map(|(r, w)| {
        fds.push(w);
        targets.push(targets.iter().copied().max().unwrap_or(2).max(2) + 1);
        r
    });
    // SAFETY: this process is single-threaded (the server loop is all it runs), so the
    // child may do anything.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return failed(sys::errno().raw_os_error().unwrap_or(libc::EIO));
    }
    if pid == 0 {
        child_side(fds, &targets, passed, server);
    }
    drop(fds);
    if let Some(r) = ready {
        // A byte once the child holds its rings, or end-of-file if it died first.
        let _ = sys::wait_readable(r.as_fd(), ipc_core::deadline_after(READY_LIMIT));
    }
    match sys::pidfd_open(pid) {
        Ok(pidfd) => {
            let raw = pidfd.as_raw_fd();
            kids.push((pid, pidfd));
            let mut m = vec![b'P'];
            m.extend_from_slice(&pid.to_le_bytes());
            (m, vec![raw])
        }
        Err(e) => {
            sys::kill_and_reap(pid);
            failed(e.raw_os_error().unwrap_or(libc::EIO))
        }
    }
}

/// The pid of a `K` request, exactly.
fn parse_kill(msg: &[u8]) -> Option<libc::pid_t> {
    match msg {
        [b'K', pid @ ..] if pid.len() == 4 => Some(i32::from_le_bytes(pid.try_into().ok()?)),
        _ => None,
    }
}

fn parse_request(msg: &[u8]) -> Option<Vec<i32>> {
    let (&tag, rest) = msg.split_first()?;
    if tag != b'S' {
        return None;
    }
    let n = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let body = rest.get(4..4 + n.checked_mul(4)?)?;
    Some(
        body.chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// How long the server waits for a child to say it holds its rings before it reports
/// the start anyway: the child does a few system calls first, so only a host stalled for
/// that long makes the start be reported before the child holds them. (The server's
/// other work waits meanwhile; a child that dies first ends the wait at once.)
const READY_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// In the freshly forked child: install the descriptors (the first `passed` are the
/// parent's; one more is the ready pipe), forget the server's, hold the rings among the
/// parent's, tell the server, run.
fn child_side(fds: Vec<OwnedFd>, targets: &[i32], passed: usize, server: libc::pid_t) -> ! {
    // SAFETY: restores the default disposition the server changed, and the SIGCHLD one
    // it inherited (the default or ignored: exec keeps no handler).
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGCHLD, SIGCHLD_INHERITED.load(Ordering::Relaxed));
    }
    let payload = sys::read_all_at0(fds[0].as_fd())
        .ok()
        .and_then(|b| Payload::from_bytes(&b).ok());
    let raw: Vec<RawFd> = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
    install(&raw, targets);
    // At their own numbers now (not the standard streams, nor the payload's -1).
    for &fd in targets[..passed].iter().filter(|&&t| t > 2) {
        ipc_core::ring::hold_inherited(fd);
    }
    // `install` put the ready pipe's write end there, unless it ran out of descriptors
    // (then the number holds something else, or nothing: not written to).
    if let Some(&ready) = targets.get(passed).filter(|&&fd| sys::is_fifo(fd)) {
        // SAFETY: the pipe's write end, installed for this process alone.
        let ready = unsafe { OwnedFd::from_raw_fd(ready) };
        child::ack(&ready, Ok(()));
        drop(ready); // closed before the entry runs, which never returns here
    }
    match payload {
        Some(p) => child::run_payload(p, server),
        None => {
            eprintln!("mp_process: forkserver child got an unreadable start payload");
            sys::exit_now(1)
        }
    }
}

/// Puts `raw[i]` at descriptor `targets[i]` (skipping negative targets), then closes
/// every descriptor other than 0, 1, 2 and the targets: the server's socket, its pidfds
/// and the received originals.
fn install(raw: &[RawFd], targets: &[i32]) {
    let top = targets.iter().copied().max().unwrap_or(2).max(2) + 1;
    let tmps: Vec<RawFd> = raw
        .iter()
        // SAFETY: F_DUPFD on descriptors this process owns; a free number >= top.
        .map(|&fd| unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top) })
        .collect();
    for (&tmp, &t) in tmps.iter().zip(targets) {
        if t >= 0 && tmp >= 0 {
            // SAFETY: dup2 onto a number this child reserves for that descriptor.
            unsafe { libc::dup2(tmp, t) };
        }
    }
    let mut keep: Vec<u32> = targets
        .iter()
        .filter(|&&t| t >= 0)
        .map(|&t| t as u32)
        .collect();
    keep.extend([0, 1, 2]);
    keep.sort_unstable();
    keep.dedup();
    let mut next = 3u32;
    for &k in keep.iter().filter(|&&k| k >= 3) {
        sys::close_range(next, k - 1);
        next = k + 1;
    }
    sys::close_range(next, u32::MAX);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid the server reaped can be given to a newer child before anyone asked for the
    /// first one's status. Keyed by pid, the second exit report overwrote the first: the
    /// first handle took the second's status, and the second waited for good on a report
    /// already taken (found by a read-only review). Keyed by start, each keeps its own.
    #[test]
    fn a_reused_pid_keeps_each_childs_status() {
        let (ours, theirs) = sys::seqpacket_pair().unwrap();
        let (stand_in, _) = sys::seqpacket_pair().unwrap(); // any descriptor, as the pidfd
        let mut client = Client {
            sock: ours,
            server_pid: 0,
            server: stand_in.try_clone().unwrap(),
            exited: HashMap::new(),
            running: HashMap::new(),
            starts: 0,
            dead: false,
            generation: 7,
        };
        let started = |client: &mut Client| {
            let fd = stand_in.as_raw_fd();
            sys::send_with_fds(theirs.as_fd(), b"P\x2a\0\0\0", &[fd]).unwrap();
            match client.read_one().unwrap() {
                Some(Reply::Started(42, _, which)) => which,
                _ => panic!("not a start reply"),
            }
        };
        let exited = |client: &mut Client, status: i32| {
            let mut m = b"X\x2a\0\0\0".to_vec();
            m.extend_from_slice(&status.to_le_bytes());
            sys::send_with_fds(theirs.as_fd(), &m, &[]).unwrap();
            assert!(client.read_one().unwrap().is_none());
        };
        let first = started(&mut client);
        exited(&mut client, 1 << 8);
        let second = started(&mut client); // pid 42 again
        exited(&mut client, 2 << 8);
        assert_ne!(first, second);
        assert_eq!(client.exited.remove(&second), Some(2 << 8));
        assert_eq!(client.exited.remove(&first), Some(1 << 8));
        assert!(client.running.is_empty());
    }

    #[test]
    fn replies_parse_strictly() {
        use super::{parse_reply, Message};
        let mut x = vec![b'X'];
        x.extend_from_slice(&42i32.to_le_bytes());
        x.extend_from_slice(&9i32.to_le_bytes());
        assert_eq!(parse_reply(&x), Some(Message::Exited(42, 9)));
        assert_eq!(parse_reply(&x[..5]), None, "a short exit report");
        assert_eq!(parse_reply(&[x.as_slice(), &[0]].concat()), None);
        assert_eq!(parse_reply(b"P\x07\0\0\0"), Some(Message::Started(7)));
        assert_eq!(
            parse_reply(b"P\x07\0\0"),
            None,
            "a short start reply is not pid 0"
        );
        assert_eq!(parse_reply(b"P"), None);
        assert_eq!(parse_reply(b"F\x0b\0\0\0"), Some(Message::ForkFailed(11)));
        assert_eq!(parse_reply(b"F"), None);
        assert_eq!(parse_reply(b"Q\0\0\0\0"), None);
        assert_eq!(parse_reply(b""), None);
    }

    #[test]
    fn requests_parse_strictly() {
        let mut m = vec![b'S'];
        m.extend_from_slice(&2u32.to_le_bytes());
        m.extend_from_slice(&(-1i32).to_le_bytes());
        m.extend_from_slice(&7i32.to_le_bytes());
        assert_eq!(super::parse_request(&m), Some(vec![-1, 7]));
        assert_eq!(super::parse_request(&m[..m.len() - 1]), None);
        assert_eq!(super::parse_request(b"X"), None);
        let mut huge = vec![b'S'];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(super::parse_request(&huge), None);
    }
}
