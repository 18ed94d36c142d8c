//! The wire between the pool and its workers, and the worker's loop.
//!
//! A task record (one chunk of items) is a 32-byte header, then the items as an rkyv
//! archive of `Vec<A>`, serialized straight into the worker's ring:
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | chunk id (`EXIT`: leave the loop) |
//! | 8..16 | trampoline, as an offset inside this binary (`mp_process::code`) |
//! | 16..24 | the user's function, as an offset inside this binary |
//! | 24..32 | check word: a keyed hash of the three above |
//!
//! Offsets, not addresses: a spawned worker is the same binary re-executed at another
//! base address, where the same offset is the same function. The check word's key is
//! private to the pool and its workers (it travels in their start arguments, not in the
//! ring), so a corrupted record is refused instead of jumping to a wild address. It is a
//! keyed checksum against corruption, not a cryptographic MAC: a process that can write
//! the rings and study them at leisure is outside the trust model, as it is for every
//! shared-memory structure here.
//!
//! A ping is a task record whose chunk id has job [`PING_JOB`] (and no code: trampoline and
//! function 0): the worker answers it at once with a bare result header. The pool sends
//! one when a result record could not be matched to a chunk (a corrupted id): a worker
//! answers in order, so its answer to the ping settles whether its earlier chunks were
//! answered (see the supervisor's `answered`).
//!
//! A result record is a 16-byte header (chunk id, status), then an archive: for
//! `STATUS_OK` a `Vec<Result<R, String>>` (one per item; `Err` holds a panic message),
//! for `STATUS_FAILED` a `String`, for `STATUS_TOO_LARGE` a `(u64, u64)` (len, max).

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mp_process::code::address_of;
use mp_queue::{ByteQueue, Message, PutError, ReadGuard};
use rkyv::rancor::{self, Fallible};
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize};

pub(crate) const TASK_HEADER: usize = 32;
pub(crate) const RESULT_HEADER: usize = 16;
/// The chunk id that tells a worker to leave.
pub(crate) const EXIT: u64 = u64::MAX;
/// The job of a ping's chunk id (never a real job's: job ids stop short of it).
pub(crate) const PING_JOB: u32 = u32::MAX;

pub(crate) const STATUS_OK: u32 = 0;
pub(crate) const STATUS_FAILED: u32 = 1;
pub(crate) const STATUS_TOO_LARGE: u32 = 2;

/// Runs one chunk in a worker: the function's address, the task record, the result ring
/// and the chunk id.
pub(crate) type Trampoline = for<'a> fn(usize, ReadGuard<'a>, &ByteQueue, u64);

/// splitmix64's finalizer: a cheap keyed hash for the check word.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn check_word(key: u64, chunk: u64, tramp: u64, func: u64) -> u64 {
    mix(key ^ chunk) ^ mix(key.rotate_left(21) ^ tramp) ^ mix(key.rotate_left(42) ^ func)
}

/// The header of a task record.
pub(crate) fn task_header(key: u64, chunk: u64, tramp: u64, func: u64) -> [u8; TASK_HEADER] {
    let mut h = [0u8; TASK_HEADER];
    h[0..8].copy_from_slice(&chunk.to_le_bytes());
    h[8..16].copy_from_slice(&tramp.to_le_bytes());
    h[16..24].copy_from_slice(&func.to_le_bytes());
    h[24..32].copy_from_slice(&check_word(key, chunk, tramp, func).to_le_bytes());
    h
}

fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The chunk id of a task record (for the pool, re-dispatching a dead worker's backlog).
pub(crate) fn task_chunk(rec: &[u8]) -> Option<u64> {
    (rec.len() >= TASK_HEADER).then(|| word(rec, 0))
}

pub(crate) fn result_header(chunk: u64, status: u32) -> [u8; RESULT_HEADER] {
    let mut h = [0u8; RESULT_HEADER];
    h[0..8].copy_from_slice(&chunk.to_le_bytes());
    h[8..12].copy_from_slice(&status.to_le_bytes());
    h
}

/// `(chunk, status)` of a result record.
pub(crate) fn parse_result(rec: &[u8]) -> Option<(u64, u32)> {
    if rec.len() < RESULT_HEADER {
        return None;
    }
    Some((word(rec, 0), word(rec, 8) as u32))
}

/// A slice archived exactly as a `Vec<A>`: a chunk of a map's items, serialized straight
/// from the caller's vector into the ring.
pub(crate) struct SliceArgs<'a, A>(pub(crate) &'a [A]);

impl<A: Archive> Archive for SliceArgs<'_, A> {
    type Archived = ArchivedVec<A::Archived>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: VecResolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(self.0.len(), resolver, out);
    }
}

impl<A, S> Serialize<S> for SliceArgs<'_, A>
where
    A: Serialize<S>,
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize(&self, s: &mut S) -> Result<VecResolver, S::Error> {
        ArchivedVec::<A::Archived>::serialize_from_slice(self.0, s)
    }
}

/// `fn(A) -> R` over a chunk.
pub(crate) fn run_map<A: Message, R: Message>(
    f: usize,
    rec: ReadGuard<'_>,
    out: &ByteQueue,
    chunk: u64,
) {
    // SAFETY: `f` passed the check word, so it is what the pool wrote (see the module
    // docs for what the check does and does not cover): the address of an `fn(A) -> R`
    // of this binary, sent with this trampoline instantiated for `A`, `R`.
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(f) };
    run_items(rec, out, chunk, f);
}

/// `fn(A, B) -> R` over a chunk of pairs (starmap).
pub(crate) fn run_star2<A: Message, B: Message, R: Message>(
    f: usize,
    rec: ReadGuard<'_>,
    out: &ByteQueue,
    chunk: u64,
) {
    // SAFETY: as in `run_map`, for an `fn(A, B) -> R`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B) -> R>(f) };
    run_items(rec, out, chunk, |(a, b): (A, B)| f(a, b));
}

/// `fn(A, B, C) -> R` over a chunk of triples (starmap).
pub(crate) fn run_star3<A: Message, B: Message, C: Message, R: Message>(
    f: usize,
    rec: ReadGuard<'_>,
    out: &ByteQueue,
    chunk: u64,
) {
    // SAFETY: as in `run_map`, for an `fn(A, B, C) -> R`.
    let f = unsafe { std::mem::transmute::<usize, fn(A, B, C) -> R>(f) };
    run_items(rec, out, chunk, |(a, b, c): (A, B, C)| f(a, b, c));
}

fn run_items<A: Message, R: Message>(
    rec: ReadGuard<'_>,
    out: &ByteQueue,
    chunk: u64,
    f: impl Fn(A) -> R,
) {
    let args = mp_queue::access::<Vec<A>>(&rec[TASK_HEADER..])
        .and_then(rkyv::deserialize::<Vec<A>, rancor::Error>);
    drop(rec); // the ring space is free again while the items run
    let args = match args {
        Ok(a) => a,
        Err(e) => return send_failure(out, chunk, &format!("arguments failed validation: {e}")),
    };
    let outcomes: Vec<Result<R, String>> = args
        .into_iter()
        .map(|a| catch_unwind(AssertUnwindSafe(|| f(a))).map_err(|p| panic_message(&*p)))
        .collect();
    match out.put_framed(&result_header(chunk, STATUS_OK), &outcomes, None) {
        Ok(()) => {}
        Err(PutError::TooLarge { len, max, .. }) => {
            let too_large = (len as u64, max as u64);
            if let Err(e) =
                out.put_framed(&result_header(chunk, STATUS_TOO_LARGE), &too_large, None)
            {
                answer_lost(&format!("cannot send a chunk's result size: {e}"));
            }
        }
        Err(e) => send_failure(out, chunk, &format!("cannot send the result: {e}")),
    }
}

fn send_failure(out: &ByteQueue, chunk: u64, msg: &str) {
    let r = out.put_framed(&result_header(chunk, STATUS_FAILED), &msg.to_string(), None);
    if let Err(e) = r {
        answer_lost(&format!("cannot send a chunk's failure: {e}"));
    }
}

/// This worker cannot answer for a chunk it took: it exits (code 4), and the pool fails
/// that chunk with `WorkerDied` and gives its untaken chunks to other workers.
fn answer_lost(why: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "mp-pool worker: {why}; exiting");
    mp_process::exit(4)
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_string()
    }
}

/// What a worker needs: its task ring, the shared result ring, the check key, an optional
/// initializer (offset of an `fn()`), and how many tasks to run before leaving (0: no limit).
pub(crate) struct WorkerSetup {
    pub(crate) tasks: ByteQueue,
    pub(crate) results: ByteQueue,
    pub(crate) key: u64,
    pub(crate) initializer: Option<u64>,
    pub(crate) maxtasks: u64,
}

/// The worker's life: run the initializer, then chunks until told to leave, the task ring
/// closes, or `maxtasks` chunks are done. The caller's process runner then exits (0).
pub(crate) fn worker_loop(setup: WorkerSetup) {
    let WorkerSetup {
        tasks,
        results,
        key,
        initializer,
        maxtasks,
    } = setup;
    tasks.close(); // this worker only reads its tasks
    if let Some(off) = initializer {
        // SAFETY: the offset came from the pool's start arguments (private, not shared
        // memory): an `fn()` of this binary.
        let init = unsafe { std::mem::transmute::<usize, fn()>(address_of(off)) };
        init();
    }
    let mut done = 0u64;
    loop {
        let Ok(rec) = tasks.get_ref() else {
            return; // the pool is gone
        };
        if rec.len() < TASK_HEADER {
            // Not a task record, so no chunk to answer for; but one the pool sent is
            // unanswered now. Exiting lets the pool settle it (`reclaim`) rather than
            // wait for its answer for good.
            answer_lost("a task record too short to be one (corrupted shared memory)");
        }
        let (chunk, tramp, func, check) =
            (word(&rec, 0), word(&rec, 8), word(&rec, 16), word(&rec, 24));
        if chunk == EXIT {
            return;
        }
        if check != check_word(key, chunk, tramp, func) {
            // Its chunk id cannot be trusted either: an answer under it could settle
            // another chunk, and leave this one waiting.
            answer_lost("a task record failed its integrity check (corrupted shared memory)");
        }
        if (chunk >> 32) as u32 == PING_JOB {
            // Answered at once, behind the answers to every earlier chunk; not a task,
            // so not counted towards `maxtasks`.
            drop(rec);
            if let Err(e) = results.put(&result_header(chunk, STATUS_OK)) {
                answer_lost(&format!("cannot answer the pool's ping: {e}"));
            }
            continue;
        }
        // SAFETY: the check word matched, so (corruption aside, which it catches, and a
        // hostile writer aside, which is out of scope: see the module docs) the pool wrote
        // this trampoline's offset: a `Trampoline` of this binary.
        let run = unsafe { std::mem::transmute::<usize, Trampoline>(address_of(tramp)) };
        run(address_of(func), rec, &results, chunk);
        done += 1;
        if maxtasks != 0 && done >= maxtasks {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipc_core::testing::{fork, reap};

    /// Runs a worker (check key 2) on these rings in a forked child; its exit.
    fn run_worker(tasks: &ByteQueue, results: &ByteQueue, maxtasks: u64) -> Result<i32, i32> {
        reap(fork(|| {
            worker_loop(WorkerSetup {
                tasks: tasks.try_clone().unwrap(),
                results: results.try_clone().unwrap(),
                key: 2,
                initializer: None,
                maxtasks,
            });
            0
        }))
    }

    /// A ping is answered at once with a bare result header under its chunk id, and is
    /// not counted as a task: with `maxtasks` 1, the worker still reads on after it.
    #[test]
    fn a_worker_answers_a_ping_and_does_not_count_it() {
        let _w = ipc_core::testing::watchdog("worker_ping", 30);
        let tasks = ByteQueue::new().unwrap();
        let results = ByteQueue::new().unwrap();
        let ping = (u64::from(PING_JOB) << 32) | 5;
        tasks.put(&task_header(2, ping, 0, 0)).unwrap();
        tasks.put(&task_header(2, EXIT, 0, 0)).unwrap(); // no check: leaves
        assert_eq!(run_worker(&tasks, &results, 1), Ok(0));
        assert!(tasks.empty(), "it read on past the ping, to EXIT");
        let answer = results.try_get_ref().unwrap();
        assert_eq!(parse_result(&answer), Some((ping, STATUS_OK)));
    }

    /// A worker given a record it cannot answer for truthfully (too short to be a task, or
    /// failing its check word, whose chunk id is then not to be trusted) exits with code
    /// 4, for the pool to settle the chunk it took, instead of leaving it unanswered.
    #[test]
    fn a_worker_exits_on_a_record_it_cannot_answer_for() {
        let _w = ipc_core::testing::watchdog("worker_exits", 30); // it waited for good
        let bad_check = task_header(1, 7, 0, 0); // made under key 1, read under key 2
        for record in [&b"short"[..], &bad_check[..]] {
            let tasks = ByteQueue::new().unwrap();
            let results = ByteQueue::new().unwrap();
            tasks.put(record).unwrap();
            assert_eq!(run_worker(&tasks, &results, 0), Ok(4));
            assert!(
                results.empty(),
                "nothing answered under a chunk id not trusted"
            );
        }
    }
}
