//! Asymmetric fences: a full barrier moved off the hot path onto the rare one.
//!
//! A ring's wake handshake is a Dekker pair. The side that publishes (a producer storing
//! `READY`, a consumer storing `DONE`) then loads the waiter count; the side going to
//! sleep increments the waiter count, then re-checks the record. Each side needs a full
//! barrier between its store and its load, or both may miss the other and the sleeper
//! naps a whole `POLL` (20 ms) for nothing. On x86 that barrier made each of the two
//! stores an `xchg`, a locked instruction, on every record.
//!
//! Linux's `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` runs a full barrier on every CPU
//! that is running a thread of a process registered for it (a thread not running passed
//! one in its context switch). So the publishing side may use a plain release store and a
//! compiler barrier ([`publish`]), provided that its process is registered ([`register`])
//! and that whoever goes to sleep calls [`heavy`] between its registration as a waiter and
//! its re-check (`EventCount::prepare_heavy`). Either the barrier ran on the publisher's
//! CPU after its store, and the re-check sees the store; or it ran before the store, and
//! the publisher's later load sees the waiter. The comments in the kernel's
//! `kernel/sched/membarrier.c` work this pairing through; userspace RCU makes its read
//! side cheap the same way. The test below is the store-buffering litmus test across two
//! processes: with `heavy` doing nothing, 1363-2905 of 20 000 rounds (release build)
//! showed both loads missing; with it, none.
//!
//! Costs and limits:
//! - [`heavy`] is a system call plus an interrupt on each other CPU that is running a
//!   registered process: about 10 us in this project's 2-core VM with the other core
//!   busy (0.4 us with it idle). A waiter pays it only on its way to sleep, which costs
//!   a futex wait and a wake anyway. Ring round trips through sleeps got no slower
//!   (below).
//! - A process whose registration fails (a kernel before 4.16, or a seccomp filter that
//!   refuses `membarrier`) keeps the full barrier on its own stores. If processes on one
//!   ring differ (one may call `membarrier`, another may not), a sleeper whose [`heavy`]
//!   fails may miss a light store. A ring records in its control block that some process
//!   registered to publish lightly; while that is so, such a sleeper naps at most 1 ms
//!   instead of `POLL` (20 ms), so a missed store is late by at most that, never lost.
//! - Under loom and Miri, which do not model `membarrier`, every store stays SeqCst.
//!
//! Measured (criterion, alternating binaries, medians of 3 rounds; BENCHMARKS.md, the
//! eleventh run): `Queue<u64>` `get_ref` 23.7 -> 18.6 ns, `get` 32.4 -> 28.6 ns; ring
//! SPSC 8 B 21.3 -> 17.2 ns, 1 KiB 40.6 -> 34.8 ns; ring round trip through sleeps
//! 43.2 -> 35.1 us. An earlier try with only the consumer's store light (2026-11-26,
//! ring README) made the consumer faster than the producer and the ring slower; with
//! both sides light, both got faster.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::primitive::AtomicU64;

/// `membarrier` commands (`linux/membarrier.h`).
const GLOBAL_EXPEDITED: libc::c_int = 1 << 1;
const REGISTER_GLOBAL_EXPEDITED: libc::c_int = 1 << 2;

/// Set once this process registered for expedited barriers. A forked child inherits
/// both the flag and the registration (the kernel keeps it across `fork` and clears it at
/// `exec`, which also starts this program afresh with the flag clear).
static REGISTERED: AtomicBool = AtomicBool::new(false);
/// Set when `membarrier(GLOBAL_EXPEDITED)` answered `ENOSYS` or `EINVAL` (no such call or
/// command here, or a seccomp filter saying so): it will not work later either, so
/// [`heavy`] stops asking, and keeps answering that it failed.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier takes no pointers; an unknown command only fails.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_uint,
            0 as libc::c_int,
        ) == 0
    }
}

/// Registers this process to receive [`heavy`]'s barriers, so that its own stores may be
/// light; true if they may. Cheap after the first call in a process. Call it before a
/// store through [`publish`] can happen: the ring calls it where a process takes its
/// participant slot, which it does before it claims or takes its first record.
pub(crate) fn register() -> bool {
    if cfg!(any(loom, miri)) {
        return false;
    }
    if !REGISTERED.load(Ordering::Relaxed) && membarrier(REGISTER_GLOBAL_EXPEDITED) {
        REGISTERED.store(true, Ordering::Relaxed);
    }
    light()
}

/// True when this process's stores may skip the full barrier (see [`register`]).
#[inline(always)]
fn light() -> bool {
    !cfg!(any(loom, miri)) && REGISTERED.load(Ordering::Relaxed)
}

/// Stores `value` into `word` for a wake handshake: SeqCst, or a release store and a
/// compiler barrier when this process is registered. Whoever reads the word with Acquire
/// (or stronger) sees everything before it, as with any release store; the caller's next
/// load of a waiter count cannot be moved before it, by the compiler or, once a sleeper's
/// [`heavy`] ran, by the CPU.
#[inline(always)]
pub(crate) fn publish(word: &AtomicU64, value: u64) {
    use crate::primitive::Ordering;
    if light() {
        word.store(value, Ordering::Release);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    } else {
        word.store(value, Ordering::SeqCst);
    }
}

/// The sleeper's half of [`publish`]: call after registering as a waiter (its SeqCst
/// fence) and before re-checking the condition. A full barrier on every CPU running a
/// registered process.
///
/// False when it could not run (no `membarrier` here, a seccomp filter, `ENOMEM`): a light
/// store of another process may then go unseen by the re-check. The ring's sleepers then
/// nap briefly rather than a whole `POLL`, but only while some process on that ring
/// registered to publish lightly (`EventCount::prepare_heavy`); where nobody could
/// register, every store is SeqCst and nothing is missed.
pub(crate) fn heavy() -> bool {
    if cfg!(any(loom, miri)) {
        return true;
    }
    if UNSUPPORTED.load(Ordering::Relaxed) {
        return false;
    }
    if membarrier(GLOBAL_EXPEDITED) {
        return true;
    }
    let e = std::io::Error::last_os_error().raw_os_error();
    if matches!(e, Some(libc::ENOSYS | libc::EINVAL)) {
        UNSUPPORTED.store(true, Ordering::Relaxed);
    }
    false
}

#[cfg(all(test, not(loom), not(miri)))]
mod tests {
    use super::*;
    use crate::testing;

    /// The store-buffering litmus test, across two processes. In round `i` the child
    /// stores `x = i` through `publish` and loads `y`; the parent stores `y = i`, calls
    /// `heavy` and loads `x`. Both loads missing the other's store is what a full barrier
    /// on each side forbids. With `heavy` doing nothing, this machine showed it in
    /// 1363-2905 of 20 000 rounds of a release build (in 1 of a debug build, whose slower
    /// code meets less often); with it, in none. It stops starting rounds after about 10 s
    /// (checked every 1024 rounds), and every wait gives up after 60 s, so a dead child
    /// fails the test instead of hanging it.
    #[test]
    fn a_heavy_barrier_pairs_with_a_light_store() {
        let _serial = testing::serial();
        register();
        if !light() {
            eprintln!("skipped: membarrier(REGISTER_GLOBAL_EXPEDITED) is not available here");
            return;
        }
        const ROUNDS: u64 = 20_000;
        assert!(
            heavy(),
            "registered, but membarrier(GLOBAL_EXPEDITED) failed"
        );
        // A nameless shared segment the forked child shares, one word per cache line.
        let seg = crate::segment::Segment::create(5 * 64, crate::segment::Kind(0x5342)).unwrap();
        let base = seg.payload_ptr().cast::<AtomicU64>();
        // SAFETY: the payload is zeroed, 64-byte aligned and 5 * 64 bytes long, and the
        // segment outlives every use of these references (the child is reaped first).
        let word = |i: usize| unsafe { &*base.add(i * 8) };
        // `ready`: the round the child waits at; `go`: the round the parent started;
        // `seen`: `2 * round + 1` if the child's load saw the parent's store, else `2 * round`.
        let (x, y, ready, go, seen) = (word(0), word(1), word(2), word(3), word(4));
        // Spins until `ok()`; false after 60 s (the other process is gone or stuck). The
        // clock is read only every 4096 spins: the two sides must meet within nanoseconds
        // for the outcome under test to show at all.
        let wait = |ok: &dyn Fn() -> bool| {
            let (mut spins, mut start) = (0u32, None);
            while !ok() {
                spins = spins.wrapping_add(1);
                if spins % 4096 == 0 {
                    let since = *start.get_or_insert_with(std::time::Instant::now);
                    if since.elapsed() > std::time::Duration::from_secs(60) {
                        return false;
                    }
                }
                std::hint::spin_loop();
            }
            true
        };
        const STOP: u64 = u64::MAX;
        let child = testing::fork(|| {
            for i in 1..=ROUNDS {
                ready.store(i, Ordering::SeqCst);
                if !wait(&|| go.load(Ordering::SeqCst) >= i) {
                    return 2;
                }
                if go.load(Ordering::SeqCst) == STOP {
                    return 0;
                }
                publish(x, i);
                let saw = y.load(Ordering::Relaxed) >= i;
                seen.store(2 * i + u64::from(saw), Ordering::SeqCst);
            }
            0
        });
        let started = std::time::Instant::now();
        let (mut both_missed, mut rounds) = (0, 0);
        for i in 1..=ROUNDS {
            assert!(
                wait(&|| ready.load(Ordering::SeqCst) >= i),
                "the child stopped"
            );
            if i % 1024 == 0 && started.elapsed() > std::time::Duration::from_secs(10) {
                go.store(STOP, Ordering::SeqCst);
                break;
            }
            go.store(i, Ordering::SeqCst);
            y.store(i, Ordering::Relaxed);
            heavy();
            let saw = x.load(Ordering::Relaxed) >= i;
            assert!(
                wait(&|| seen.load(Ordering::SeqCst) >> 1 == i),
                "the child stopped"
            );
            let child_saw = seen.load(Ordering::SeqCst) & 1 == 1;
            both_missed += u32::from(!saw && !child_saw);
            rounds += 1;
        }
        eprintln!("{rounds} rounds");
        assert_eq!(testing::reap(child), Ok(0));
        assert_eq!(both_missed, 0, "rounds where both loads missed");
    }
}
