//! The handles' own behaviour on one process's ring: what the protocol tests under
//! `raw/` cannot see (waiting, the free cursor's batching as callers meet it, copies).

use super::*;
use crate::ring::INLINE_MAX;

/// A blocking pop that meets a corrupted record reports it (the record is released by
/// then, so looking again would silently skip it).
#[test]
fn a_blocking_pop_reports_a_corrupted_record() {
    // A regression that skipped the bad record would leave the second pop waiting.
    let _w = crate::testing::watchdog("a_blocking_pop_reports_a_corrupted_record", 60);
    let ring = Ring::builder().capacity(1024).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push(b"bad").unwrap();
    tx.push(b"good").unwrap();
    ring.raw().set_len_for_test(0, 1000); // inline record claiming 1000 bytes
    assert!(matches!(rx.pop(), Err(PopError::Corrupted(_))));
    assert_eq!(&*rx.pop().unwrap(), b"good");
}

/// Consumers move the free cursor every few records, but a record taken is room at
/// once for `is_full`, `try_push`, `reserve_now` and a zero `push_timeout`.
#[test]
fn a_taken_record_is_room_at_once_though_the_free_cursor_lags() {
    let ring = Ring::builder().maxsize(64).create().unwrap();
    assert!(ring.raw().layout().free_batch > 1, "the case under test");
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for i in 0..64u8 {
        tx.try_push(&[i]).unwrap();
    }
    assert!(ring.is_full());
    assert_eq!(tx.try_push(b"x"), Err(PushError::Full));
    assert_eq!(&*rx.pop().unwrap(), &[0]);
    assert!(!ring.is_full());
    tx.try_push(b"x").unwrap();
    assert!(ring.is_full());
    assert_eq!(&*rx.pop().unwrap(), &[1]);
    tx.reserve_now(1).unwrap().expect("a place").commit();
    assert_eq!(&*rx.pop().unwrap(), &[2]);
    // A timeout shorter than the spin phase still counts the taken record.
    tx.push_timeout(b"y", Duration::ZERO).unwrap();
    assert_eq!(ring.len(), 64);
}

/// A consumer that sees a producer waiting for room moves the free cursor at once,
/// batch or not (else the producer sleeps until its nap ends).
#[test]
fn a_release_moves_the_free_cursor_when_a_producer_waits() {
    let ring = Ring::builder().maxsize(64).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for i in 0..64u8 {
        tx.try_push(&[i]).unwrap();
    }
    let raw = ring.raw();
    drop(rx.pop().unwrap()); // no waiter: the cursor stays (a batch is 16 records)
    assert!(
        raw.is_full(),
        "the cursor moved without a batch or a waiter"
    );
    let token = raw.not_full().prepare(); // a producer about to sleep
    drop(rx.pop().unwrap());
    assert!(
        !raw.is_full(),
        "the release did not move the cursor for the waiter"
    );
    raw.not_full().cancel(token);
}

/// A producer alone on a ring whose head is a padding (here the wrap padding its own
/// whole-capacity record needs) moves the head past it: the spinning claim does not look
/// at the head, but the exact looks of `try_push` and of a blocked `push` do.
#[test]
fn a_producer_alone_passes_the_paddings_at_the_head() {
    let _w = crate::testing::watchdog("a_producer_alone_passes_the_paddings_at_the_head", 60);
    let ring = Ring::builder().capacity(256).maxsize(4).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push(&[1; INLINE_MAX + 1]).unwrap(); // in the data area, 48 bytes
    drop(rx.pop().unwrap());
    // The whole capacity fits only after a padding to the end, which nobody takes.
    tx.push_timeout(&[9; 256], Duration::from_secs(10)).unwrap();
    assert_eq!(&*rx.pop().unwrap(), &[9; 256]);
    // The same through `try_push`, with no waiting at all.
    tx.push(&[2; INLINE_MAX + 1]).unwrap();
    drop(rx.pop().unwrap());
    tx.try_push(&[8; 256]).unwrap();
    assert_eq!(&*rx.pop().unwrap(), &[8; 256]);
    // A cancelled reservation at the head holds its bytes until someone passes it: a
    // waiting reservation that only needs those bytes gets them rather than a timeout.
    drop(tx.reserve_now(200).unwrap().expect("room"));
    let slot = tx.reserve_deadline(200, Some(Instant::now() + Duration::from_secs(10)));
    assert!(slot.is_ok(), "the padding's bytes were reported missing");
}

/// `copy_record`'s two overlapping moves cover every length they take, and the lengths
/// around them go through the plain copy.
#[test]
fn copy_record_copies_every_length() {
    for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 100] {
        let src: Vec<u8> = (0..n as u8)
            .map(|b| b.wrapping_mul(37).wrapping_add(1))
            .collect();
        let mut dst = vec![0u8; n];
        copy_record(&mut dst, &src);
        assert_eq!(dst, src, "length {n}");
    }
}

/// `close` through a shared reference while other threads push through the same handle:
/// every push that returned `Ok` is popped, none after `Closed`, and the consumer then
/// sees `Closed` (the closed handle was the only producer).
#[test]
fn closing_a_handle_other_threads_push_through_loses_nothing() {
    let _serial = crate::testing::serial();
    let _w = crate::testing::watchdog("closing_a_shared_producer", 60);
    for round in 0..20u64 {
        let ring = Ring::builder().maxsize(64).create().unwrap();
        let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
        let (accepted, popped) = std::thread::scope(|s| {
            let pushers: Vec<_> = (0..2u64)
                .map(|t| {
                    let tx = &tx;
                    s.spawn(move || {
                        let mut ok = 0u64;
                        for i in 0.. {
                            // Small and large records: inline claims and data-area ones.
                            let len = if i % 3 == 0 { 100 } else { 8 };
                            let mut rec = vec![0u8; len];
                            rec[..8].copy_from_slice(&(t << 32 | i).to_le_bytes());
                            match tx.push(&rec) {
                                Ok(()) => ok += 1,
                                Err(PushError::Closed) => return ok,
                                Err(e) => panic!("{e}"),
                            }
                        }
                        unreachable!()
                    })
                })
                .collect();
            let consumer = s.spawn(|| {
                let mut n = 0u64;
                loop {
                    match rx.pop() {
                        Ok(_) => n += 1,
                        Err(PopError::Closed) => return n,
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            std::thread::sleep(Duration::from_millis(1 + round % 5));
            tx.close();
            assert!(tx.is_closed());
            let accepted: u64 = pushers.into_iter().map(|p| p.join().unwrap()).sum();
            (accepted, consumer.join().unwrap())
        });
        assert_eq!(accepted, popped, "round {round}");
        assert_eq!(tx.push(b"late"), Err(PushError::Closed));
    }
}

/// A closed consumer handle pops nothing, even with records ready, and once it was the
/// only consumer a producer waiting for room sees `Closed`.
#[test]
fn a_closed_consumer_pops_nothing_and_producers_see_closed() {
    let _serial = crate::testing::serial();
    let _w = crate::testing::watchdog("a_closed_consumer_pops_nothing", 30);
    let ring = Ring::builder().maxsize(1).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push(b"ready").unwrap();
    rx.close();
    assert!(rx.is_closed());
    assert_eq!(rx.try_pop().unwrap_err(), PopError::Closed);
    assert_eq!(rx.pop().unwrap_err(), PopError::Closed);
    assert_eq!(tx.try_push(b"more"), Err(PushError::Closed));
}

/// Closing a consumer handle wakes a thread blocked in `pop` on it, which then returns
/// `Closed` instead of waiting for a record it may no longer take.
#[test]
fn closing_a_consumer_wakes_a_pop_blocked_on_it() {
    let _w = crate::testing::watchdog("closing_wakes_a_blocked_pop", 30);
    let ring = Ring::builder().create().unwrap();
    let (_tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    std::thread::scope(|s| {
        let blocked = s.spawn(|| rx.pop().map(|_| ()));
        std::thread::sleep(Duration::from_millis(50)); // in its sleep by now, most likely
        rx.close();
        assert_eq!(blocked.join().unwrap(), Err(PopError::Closed));
    });
}

/// A slot left being reclaimed by a process that died in the middle (its `id` still
/// `RECLAIMING`) is taken over by the next process that needs a slot, which settles it
/// and hands the dead owner's word out once.
#[test]
fn a_slot_whose_reclaimer_died_is_taken_over() {
    let _serial = crate::testing::serial();
    let _w = crate::testing::watchdog("a_slot_whose_reclaimer_died", 30);
    let ring = Ring::builder().capacity(4096).slots(1).create().unwrap();
    let child = crate::testing::fork(|| {
        ring.process_word().unwrap().fetch_add(5, Ordering::SeqCst);
        0
    });
    assert_eq!(crate::testing::reap(child), Ok(0));
    let slot = ring.raw().slot(0).unwrap();
    let dead = slot.id.load(Ordering::SeqCst);
    assert_ne!(dead, 0, "the child held the only slot");
    slot.id
        .store(dead | super::super::RECLAIMING, Ordering::SeqCst); // it died reclaiming
    ring.process_word().unwrap(); // the only slot: taken over
    assert_eq!(
        slot.id.load(Ordering::SeqCst),
        crate::liveness::my_owner_word()
    );
    assert_eq!(ring.adopt_dead_words(), Ok(5));
    assert_eq!(ring.adopt_dead_words(), Ok(0));
    assert_eq!(
        ring.process_word().unwrap().load(Ordering::SeqCst),
        5,
        "adopted"
    );
}

/// A fork while this process is registering (here: while this very thread holds the
/// registration lock) leaves the child free to register: it takes the lock over, since
/// the thread holding it does not exist in the child. A `Mutex` would hang the child.
#[test]
fn a_child_forked_during_a_registration_can_register() {
    let _serial = crate::testing::serial();
    let _w = crate::testing::watchdog("a_child_forked_during_a_registration", 30);
    let ring = Ring::builder().capacity(4096).create().unwrap();
    let held = super::super::RegisterLock::take();
    let child = crate::testing::fork(|| i32::from(ring.process_word().is_err()));
    drop(held);
    assert_eq!(crate::testing::reap(child), Ok(0));
}

/// A deadline that passes before the wait ever asked who is left (a zero timeout here;
/// under load, any timeout shorter than the spin phase) still answers `Closed` on a
/// drained ring with no producer, and on a full ring with no consumer, not `Timeout`.
#[test]
fn an_expired_deadline_on_a_closed_ring_is_closed_not_a_timeout() {
    let _serial = crate::testing::serial();
    let ring = Ring::builder().maxsize(1).create().unwrap();
    let (tx, rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    tx.push(b"last").unwrap();
    drop(tx);
    assert_eq!(&*rx.pop_timeout(Duration::ZERO).unwrap(), b"last");
    assert_eq!(
        rx.pop_timeout(Duration::ZERO).unwrap_err(),
        PopError::Closed
    );

    let tx = ring.producer().unwrap();
    tx.push(b"fills it").unwrap();
    drop(rx);
    assert_eq!(
        tx.push_timeout(b"more", Duration::ZERO),
        Err(PushError::Closed)
    );
}

/// A writer that died in the middle of its record leaves it half-written at the head.
/// With no producer left, an expired deadline (a zero timeout, as `poll(0)` uses) still
/// settles that record and answers `Closed`, for a peek as for a pop, not `Timeout`.
#[test]
fn an_expired_deadline_behind_a_dead_writer_is_closed_not_a_timeout() {
    let _serial = crate::testing::serial();
    let _w = crate::testing::watchdog("expired_deadline_dead_writer", 30);
    let ring = Ring::builder().capacity(4096).create().unwrap();
    let rx = ring.consumer().unwrap();
    let child = crate::testing::fork(|| {
        let tx = ring.producer().unwrap();
        let slot = tx.try_reserve(8).unwrap();
        std::mem::forget(slot); // never published
        0 // exits with the record claimed and its handles open: both die with it
    });
    assert_eq!(crate::testing::reap(child), Ok(0));
    assert_eq!(rx.wait_ready(Some(Instant::now())), Err(PopError::Closed));
    assert_eq!(
        rx.pop_timeout(Duration::ZERO).unwrap_err(),
        PopError::Closed
    );
}

/// A process that may publish with light stores says so in the ring before its first
/// record, so that a sleeper whose own `membarrier` fails naps briefly, not a `POLL`.
#[test]
fn a_light_publisher_marks_the_ring_before_its_first_record() {
    let ring = Ring::builder().create().unwrap();
    assert!(!ring.raw().light_peers(), "nobody has taken a slot yet");
    let tx = ring.producer().unwrap();
    tx.push(b"x").unwrap();
    if !crate::fence::register() {
        eprintln!("skipped: this process cannot register for membarrier");
        return;
    }
    assert!(ring.raw().light_peers());
}
