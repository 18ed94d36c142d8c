//! `Lock` and `RLock` across real processes: mutual exclusion under contention, a holder
//! killed with SIGKILL (the next blocking acquirer always gets the lock with
//! `owner_died()`; the watchdog fails the test if it never does), a thread that exits
//! holding an RLock, timeouts that wait at least their duration (and `Duration::MAX`, which
//! means forever), and reaching a lock by name and by handle.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ipc_core::sync::{
    Barrier, Condition, Event, Lock, LockError, RLock, ReleaseError, Semaphore, Value, POLL,
};
use ipc_core::testing::{fork, kill, reap, watchdog, Rng};

#[test]
fn four_processes_increment_a_value_under_a_lock() {
    let _w = watchdog("four_processes_increment_a_value_under_a_lock", 120);
    const PER: u64 = 250_000;
    let v = Value::new(0u64).unwrap();
    let kids: Vec<_> = (0..4)
        .map(|_| {
            fork(|| {
                for _ in 0..PER {
                    let g = match v.lock() {
                        Ok(g) if !g.owner_died() => g,
                        _ => return 2,
                    };
                    g.set(g.get() + 1);
                }
                0
            })
        })
        .collect();
    for k in kids {
        assert_eq!(reap(k), Ok(0));
    }
    assert_eq!(v.get(), 4 * PER);
}

/// The child takes the lock, says so, and sleeps until it is killed.
fn doomed_holder(lock: &Lock, held: &Event) -> libc::pid_t {
    fork(|| {
        let g = lock.acquire().unwrap();
        held.set();
        std::thread::sleep(Duration::from_secs(60));
        drop(g);
        0
    })
}

#[test]
fn a_killed_holder_never_deadlocks_the_next_acquirer() {
    let _w = watchdog("a_killed_holder_never_deadlocks_the_next_acquirer", 120);
    let mut rng = Rng::from_env("a_killed_holder_never_deadlocks_the_next_acquirer");
    let lock = Lock::new().unwrap();
    for round in 0..100 {
        let held = Event::new().unwrap();
        let pid = doomed_holder(&lock, &held);
        assert!(held.wait_timeout(Duration::from_secs(10)), "round {round}");
        let delay = Duration::from_micros(rng.below(30_000));
        // Half the rounds kill while the acquirer already sleeps on the lock.
        let killer = (round % 2 == 0).then(|| {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                kill(pid);
            })
        });
        if killer.is_none() {
            std::thread::sleep(delay);
            kill(pid);
        }
        let g = lock
            .acquire()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(g.owner_died(), "round {round}: owner death not reported");
        drop(g);
        if let Some(k) = killer {
            k.join().unwrap();
        }
        assert_eq!(reap(pid), Err(libc::SIGKILL));
        // The lock is normal again: free, and the next acquire reports nothing.
        assert!(!lock.try_acquire().unwrap().owner_died());
    }
}

#[test]
fn only_one_waiter_takes_over_a_dead_holder() {
    let _w = watchdog("only_one_waiter_takes_over_a_dead_holder", 60);
    let lock = Lock::new().unwrap();
    let died = Value::new(0u32).unwrap();
    let held = Event::new().unwrap();
    let pid = doomed_holder(&lock, &held);
    assert!(held.wait_timeout(Duration::from_secs(10)));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            fork(|| {
                let g = lock.acquire().unwrap();
                if g.owner_died() {
                    let d = died.lock().unwrap();
                    d.set(d.get() + 1);
                }
                0
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    kill(pid);
    for w in waiters {
        assert_eq!(reap(w), Ok(0));
    }
    assert_eq!(reap(pid), Err(libc::SIGKILL));
    assert_eq!(died.get(), 1);
}

#[test]
fn try_acquire_takes_over_a_dead_holder_within_a_poll() {
    let _w = watchdog("try_acquire_takes_over_a_dead_holder_within_a_poll", 30);
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let pid = doomed_holder(&lock, &held);
    assert!(held.wait_timeout(Duration::from_secs(10)));
    assert_eq!(lock.try_acquire().err(), Some(LockError::WouldBlock));
    kill(pid);
    assert_eq!(reap(pid), Err(libc::SIGKILL));
    // A handle reads the owner's liveness at most once per POLL; after that, at once.
    std::thread::sleep(POLL);
    assert!(lock.try_acquire().unwrap().owner_died());
}

/// Calls `acquire` until it gives a guard; panics on any error but a timeout.
fn until_taken<G>(mut acquire: impl FnMut() -> Result<G, LockError>) -> G {
    loop {
        match acquire() {
            Ok(g) => return g,
            Err(LockError::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// Python's polling idiom, `while not lock.acquire(timeout=0.005): ...`, against a holder
/// killed with SIGKILL: each short wait sees the dead owner for less than POLL, so before
/// the fix no call ever looked at its liveness and the loop ran for good. The handle's
/// probe (as `try_acquire`'s) now lets a timed-out call look, at most once per POLL.
#[test]
fn short_timeouts_take_over_a_dead_holder() {
    let _w = watchdog("short_timeouts_take_over_a_dead_holder", 30);
    let lock = Lock::new().unwrap();
    let held = Event::new().unwrap();
    let pid = doomed_holder(&lock, &held);
    assert!(held.wait_timeout(Duration::from_secs(10)));
    kill(pid);
    assert_eq!(reap(pid), Err(libc::SIGKILL));
    let g = until_taken(|| lock.acquire_timeout(Duration::from_millis(2)));
    assert!(g.owner_died());

    let r = RLock::new().unwrap();
    let held = Event::new().unwrap();
    let pid = fork(|| {
        std::mem::forget(r.acquire().unwrap());
        held.set();
        std::thread::sleep(Duration::from_secs(60));
        0
    });
    assert!(held.wait_timeout(Duration::from_secs(10)));
    kill(pid);
    assert_eq!(reap(pid), Err(libc::SIGKILL));
    let g = until_taken(|| r.acquire_timeout(Duration::from_millis(2)));
    assert!(g.owner_died());
}

#[test]
fn an_rlock_held_by_a_killed_process_is_taken_over() {
    let _w = watchdog("an_rlock_held_by_a_killed_process_is_taken_over", 30);
    let r = RLock::new().unwrap();
    let held = Event::new().unwrap();
    let pid = fork(|| {
        let a = r.acquire().unwrap();
        let b = r.acquire().unwrap();
        held.set();
        std::thread::sleep(Duration::from_secs(60));
        drop((b, a));
        0
    });
    assert!(held.wait_timeout(Duration::from_secs(10)));
    assert_eq!(r.try_acquire().err(), Some(LockError::WouldBlock));
    assert_eq!(r.release(), Err(ReleaseError::NotOwner));
    kill(pid);
    let g = r.acquire().unwrap();
    assert!(g.owner_died());
    assert_eq!(r.count(), 1, "a take-over starts at depth one");
    drop(g);
    assert!(!r.locked());
    assert_eq!(reap(pid), Err(libc::SIGKILL));
}

#[test]
fn an_rlock_whose_thread_exited_is_taken_over() {
    let _w = watchdog("an_rlock_whose_thread_exited_is_taken_over", 30);
    let r = RLock::new().unwrap();
    let r2 = r.clone();
    std::thread::spawn(move || r2.acquire().unwrap().leak())
        .join()
        .unwrap();
    assert!(r.locked());
    let g = r.acquire().unwrap();
    assert!(g.owner_died());
}

#[test]
fn a_lock_may_be_released_by_another_process() {
    let _w = watchdog("a_lock_may_be_released_by_another_process", 30);
    let lock = Lock::new().unwrap();
    lock.acquire().unwrap().leak();
    let child = fork(|| match lock.release() {
        Ok(()) => 0,
        Err(_) => 1,
    });
    assert_eq!(reap(child), Ok(0));
    assert!(!lock.locked());
    assert_eq!(lock.release(), Err(ReleaseError::NotHeld));
}

#[test]
fn timeouts_wait_at_least_their_duration() {
    let _w = watchdog("timeouts_wait_at_least_their_duration", 30);
    let lock = Lock::new().unwrap();
    let r = RLock::new().unwrap();
    let held = Event::new().unwrap();
    let done = Event::new().unwrap();
    let child = fork(|| {
        let _a = lock.acquire().unwrap();
        let _b = r.acquire().unwrap();
        held.set();
        done.wait();
        0
    });
    assert!(held.wait_timeout(Duration::from_secs(10)));
    for ms in [1u64, 15, 60] {
        let d = Duration::from_millis(ms);
        let t = Instant::now();
        assert_eq!(lock.acquire_timeout(d).err(), Some(LockError::Timeout));
        assert!(t.elapsed() >= d, "Lock waited {:?} < {d:?}", t.elapsed());
        let t = Instant::now();
        assert_eq!(r.acquire_timeout(d).err(), Some(LockError::Timeout));
        assert!(t.elapsed() >= d, "RLock waited {:?} < {d:?}", t.elapsed());
    }
    done.set();
    assert_eq!(reap(child), Ok(0));
}

#[test]
fn a_timeout_of_duration_max_waits_forever_without_panicking() {
    let _w = watchdog(
        "a_timeout_of_duration_max_waits_forever_without_panicking",
        30,
    );
    // `Instant::now() + Duration::MAX` overflows: each `*_timeout` must treat it as forever.
    let lock = Lock::new().unwrap();
    assert!(!lock.acquire_timeout(Duration::MAX).unwrap().owner_died());
    let r = RLock::new().unwrap();
    drop(r.acquire_timeout(Duration::MAX).unwrap());
    let sem = Semaphore::new(1).unwrap();
    assert_eq!(sem.acquire_timeout(Duration::MAX), Ok(()));
    let ev = Event::new().unwrap();
    ev.set();
    assert!(ev.wait_timeout(Duration::MAX));
    let cond = Condition::new().unwrap();
    let mut g = cond.acquire_timeout(Duration::MAX).unwrap();
    assert!(cond
        .wait_for_timeout(&mut g, Duration::MAX, || true)
        .unwrap());
    drop(g);
    assert_eq!(Barrier::new(1).unwrap().wait_timeout(Duration::MAX), Ok(0));
    let v = Value::new(1u8).unwrap();
    assert_eq!(v.lock_timeout(Duration::MAX).unwrap().get(), 1);
}

#[test]
fn a_lock_is_reached_by_name_and_by_handle() {
    let _w = watchdog("a_lock_is_reached_by_name_and_by_handle", 30);
    let lock = Lock::create_named("mp-rs-sync-test").unwrap();
    let name = lock.name().unwrap().to_owned();
    let by_handle = Lock::from_handle(lock.handle()).unwrap();
    let child = fork(|| {
        let other = Lock::open_named(&name).unwrap();
        other.acquire().unwrap().leak();
        0
    });
    assert_eq!(reap(child), Ok(0));
    assert!(by_handle.locked());
    // The child exited holding it: the next acquirer takes over.
    assert!(by_handle.acquire().unwrap().owner_died());
    assert!(RLock::open_named(&name).is_err(), "a Lock is not an RLock");
    drop((lock, by_handle));
    assert!(
        Lock::open_named(&name).is_err(),
        "the creator unlinks the name"
    );
}

#[test]
fn a_corrupted_lock_word_is_an_error_not_a_hang() {
    let _w = watchdog("a_corrupted_lock_word_is_an_error_not_a_hang", 30);
    let lock = Lock::new().unwrap();
    let seg = ipc_core::segment::Segment::from_handle(
        lock.handle(),
        ipc_core::segment::Kind(0x5359_4E01),
    )
    .unwrap();
    // SAFETY: the lock word is the first 8 bytes of the payload, which is 64-byte aligned.
    let word = unsafe { &*(seg.payload_ptr() as *const std::sync::atomic::AtomicU64) };
    word.store(u64::MAX, Ordering::SeqCst);
    assert!(matches!(lock.try_acquire(), Err(LockError::Corrupted(_))));
    assert!(matches!(
        lock.acquire_timeout(Duration::from_millis(50)),
        Err(LockError::Corrupted(_))
    ));
    // A raw release clears any word.
    lock.release().unwrap();
    assert!(lock.try_acquire().is_ok());
}

/// A notifier killed between publishing (the flag set, a permit released) and its
/// `FUTEX_WAKE` must not leave a waiter with no deadline asleep for good: waiters
/// re-check every `POLL`. Simulated by a forked child that stores the word directly, as
/// the killed notifier did, and never wakes anyone.
#[test]
fn a_waiter_sees_what_a_notifier_published_before_it_died() {
    use ipc_core::sync::{Event, Semaphore};
    let _w = watchdog("notifier_died", 30);
    let event = Event::new().unwrap();
    let sem = Semaphore::new(0).unwrap();
    let word = |handle, kind| {
        let seg =
            ipc_core::segment::Segment::from_handle(handle, ipc_core::segment::Kind(kind)).unwrap();
        // SAFETY: the flag / the semaphore's value is the payload's first u32 (repr(C)),
        // 64-byte aligned; the mapping lives as long as this process (leaked).
        let w = unsafe { &*(seg.payload_ptr() as *const std::sync::atomic::AtomicU32) };
        std::mem::forget(seg);
        w
    };
    let flag = word(event.handle(), 0x5359_4E05);
    let value = word(sem.handle(), 0x5359_4E03);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| event.wait());
        let acquirer = s.spawn(|| sem.acquire());
        std::thread::sleep(Duration::from_millis(50)); // both asleep by now, most likely
        let child = ipc_core::testing::fork(|| {
            flag.store(1, Ordering::SeqCst);
            value.store(1, Ordering::SeqCst);
            0 // exits without any wake
        });
        assert_eq!(ipc_core::testing::reap(child), Ok(0));
        waiter.join().unwrap();
        acquirer.join().unwrap().unwrap();
    });
}

/// A process's owner word stays the same for its life, even when the first look at
/// `/proc` for its start time fails (here: no file descriptor left). A condition's wait
/// releases and retakes its lock under the process's word: under another word than the
/// one the lock was taken with, the release failed and the retake waited on itself.
#[test]
fn a_condition_wait_after_proc_was_unreadable_returns() {
    let _w = watchdog("proc_unreadable", 30);
    let cond = ipc_core::sync::Condition::<Lock>::create().unwrap();
    let child = fork(|| {
        let old = ipc_core::testing::limit_fds_to_those_open(); // no fd can be opened
        let mut guard = cond.acquire().unwrap(); // no /proc: a word without a start time
        ipc_core::testing::set_fd_limit(old);
        // /proc readable again: the wait releases, times out, and takes the lock back.
        let notified = cond.wait_timeout(&mut guard, Duration::from_millis(20));
        i32::from(notified != Ok(false))
    });
    assert_eq!(reap(child), Ok(0));
}
