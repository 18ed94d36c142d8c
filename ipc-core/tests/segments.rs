//! Segments across fork: only the creator removes a name; a nameless segment's size is
//! sealed.

use std::mem::ManuallyDrop;

use ipc_core::segment::{Kind, Segment};
use ipc_core::testing::{fork, reap, watchdog};

#[test]
fn a_forked_child_dropping_its_copy_does_not_unlink_the_name() {
    let _w = watchdog("fork_unlink", 30);
    let seg = ManuallyDrop::new(Segment::create_named("seg-fork", 64, Kind(7)).unwrap());
    let name = seg.name().unwrap().to_string();
    let child = fork(|| {
        // SAFETY: the child owns its copy of the parent's memory; this drop runs once, here.
        let copy: Segment = unsafe { std::ptr::read(&*seg) };
        drop(copy);
        0
    });
    assert_eq!(reap(child), Ok(0));
    assert!(
        Segment::open_named(&name, Kind(7)).is_ok(),
        "a forked child removed the creator's name"
    );
    drop(ManuallyDrop::into_inner(seg));
    assert!(
        Segment::open_named(&name, Kind(7)).is_err(),
        "the creator did not remove it"
    );
}

/// Shrinking a mapped file makes every process that touches the lost pages die of SIGBUS.
/// A nameless segment is sealed against resizing: a process holding its fd (here a forked
/// child, as a buggy or hostile peer would) cannot shrink or grow it.
#[test]
fn a_nameless_segment_cannot_be_resized_by_a_peer() {
    let _w = watchdog("seal", 30);
    let seg = Segment::create(1 << 16, Kind(7)).unwrap();
    let fd = seg.fd();
    let child = fork(|| {
        let mut failed = 0;
        for size in [0, 4096, 1 << 30] {
            // SAFETY: ftruncate on an fd this process inherited; no memory is touched.
            if unsafe { libc::ftruncate(fd, size) } < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
            {
                failed += 1;
            }
        }
        if failed == 3 {
            0
        } else {
            1
        }
    });
    assert_eq!(reap(child), Ok(0), "the child could resize the segment");
    // The whole payload is still there to touch.
    let attached = Segment::from_handle(seg.handle(), Kind(7)).unwrap();
    assert!(attached.payload_len() >= (1 << 16));
}
