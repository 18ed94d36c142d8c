//! Never trusting shared memory: a segment's header checks give typed errors, and random
//! bytes written over a live ring (header, descriptors, records) while other processes use
//! it make their calls fail with errors, never with a crash or a hang.

mod common;

use std::time::Duration;

use common::{fork, reap, seed, watchdog, Rng};
use ipc_core::ring::Ring;
use ipc_core::segment::{Kind, Segment, HEADER_SIZE};
use ipc_core::OpenError;

fn poke(seg_ptr: *mut u8, at: usize, bytes: &[u8]) {
    // SAFETY: callers keep `at + bytes.len()` inside the mapping.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), seg_ptr.add(at), bytes.len()) };
}

#[test]
fn opening_checks_magic_version_init_size_and_kind() {
    let seg = Segment::create(4096, Kind(9)).unwrap();
    // SAFETY: the payload starts HEADER_SIZE bytes into the mapping.
    let base = unsafe { seg.payload_ptr().sub(HEADER_SIZE) };
    assert!(matches!(
        Segment::from_handle(seg.handle(), Kind(8)),
        Err(OpenError::WrongKind {
            found: 9,
            expected: 8
        })
    ));

    poke(base, 16, &99u32.to_ne_bytes()); // version
    assert!(matches!(
        Segment::from_handle(seg.handle(), Kind(9)),
        Err(OpenError::VersionMismatch { found: 99, .. })
    ));
    poke(base, 16, &ipc_core::segment::LAYOUT_VERSION.to_ne_bytes());
    let mut init = [0u8; 4];
    // SAFETY: reads 4 bytes of the header.
    unsafe { std::ptr::copy_nonoverlapping(base.add(24), init.as_mut_ptr(), 4) };
    poke(base, 24, &0u32.to_ne_bytes()); // init flag
    assert!(matches!(
        Segment::from_handle(seg.handle(), Kind(9)),
        Err(OpenError::NotInitialized)
    ));
    poke(base, 24, &init);
    assert!(Segment::from_handle(seg.handle(), Kind(9)).is_ok());
    // A handle that names another size: the error gives the handle's and the file's.
    let real = seg.handle().size;
    let wrong = ipc_core::segment::SegmentHandle {
        fd: seg.fd(),
        size: real + 64,
    };
    match Segment::from_handle(wrong, Kind(9)) {
        Err(OpenError::SizeMismatch { header, file }) => {
            assert_eq!((header, file), (real + 64, real))
        }
        other => panic!("expected SizeMismatch, got {other:?}"),
    }
    poke(base, 0, b"NOTMAGIC");
    assert!(matches!(
        Segment::from_handle(seg.handle(), Kind(9)),
        Err(OpenError::BadMagic)
    ));
    // A file too small for a header (a foreign fd, or a named segment someone shrank: a
    // nameless one's size is sealed, see tests/segments.rs).
    // SAFETY: the name is a NUL-terminated literal.
    let raw = unsafe { libc::memfd_create(c"small".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(raw >= 0);
    // SAFETY: `raw` is a fresh fd that nothing else owns.
    let small = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    // SAFETY: ftruncate on the fd just created; nothing maps it.
    assert_eq!(unsafe { libc::ftruncate(raw, 10) }, 0);
    assert!(matches!(
        Segment::from_handle(
            ipc_core::segment::SegmentHandle { fd: raw, size: 10 },
            Kind(9)
        ),
        Err(OpenError::TooSmall { size: 10, .. })
    ));
    drop(small);
    assert!("12".parse::<ipc_core::segment::SegmentHandle>().is_err());
}

#[test]
fn random_bytes_over_a_live_ring_give_errors_not_crashes() {
    let _w = watchdog("corruption", 300);
    let mut rng = Rng(seed("corruption"));
    for round in 0..25 {
        let ring = Ring::builder()
            .capacity(1024)
            .maxsize(16)
            .slots(8)
            .create()
            .unwrap();
        let h = ring.handle();
        let rx = ring.consumer().unwrap();
        let reader = fork(|| {
            for _ in 0..600 {
                if let Ok(m) = rx.pop_timeout(Duration::from_millis(1)) {
                    std::hint::black_box(m.iter().map(|&b| b as u64).sum::<u64>());
                }
            }
            0
        });
        drop(rx);
        let tx = ring.producer().unwrap();
        let writer = fork(|| {
            for i in 0..600u32 {
                let _ = tx.push_timeout(
                    &i.to_le_bytes().repeat(1 + i as usize % 9),
                    Duration::from_millis(1),
                );
            }
            0
        });
        drop(tx);
        let seg = Segment::from_handle(h, ipc_core::ring::RING_KIND).unwrap();
        // SAFETY: the payload starts HEADER_SIZE bytes into the mapping.
        let base = unsafe { seg.payload_ptr().sub(HEADER_SIZE) };
        let total = seg.payload_len() + HEADER_SIZE;
        for _ in 0..20 {
            std::thread::sleep(Duration::from_micros(rng.below(500)));
            // Mostly the control block and descriptors, sometimes anywhere.
            let span = if rng.below(4) == 0 {
                total
            } else {
                total.min(HEADER_SIZE + 4096)
            };
            let at = rng.below(span as u64 - 8) as usize;
            poke(
                base,
                at,
                &rng.next_u64().to_ne_bytes()[..1 + rng.below(8) as usize],
            );
        }
        // Every process ends on its own: an error is fine, a signal is not.
        assert_eq!(reap(reader), Ok(0), "reader crashed in round {round}");
        assert_eq!(reap(writer), Ok(0), "writer crashed in round {round}");
        // A newcomer attaching to the wreck gets an error or a ring that behaves.
        if let Ok(again) = Ring::from_handle(h) {
            if let Ok(rx) = again.consumer() {
                let _ = rx.pop_timeout(Duration::from_millis(1));
            }
        }
    }
}
