//! Tutorial: the bare Unix `fork()`, called once and returning twice: 0 in the child,
//! the child's pid in the parent (Python's `os.fork()`).
//!
//! ```text
//! cargo run --example fork_raw
//! ```
//!
//! What it teaches: after `fork` two processes run the same code from the same point;
//! only the return value tells them apart. The child is a copy of the parent, and from
//! then on the two are independent. `mp_process::Process` wraps all of this (and the
//! pitfalls: flushing output first, leaving the child with `_exit`, reaping it).

use std::io::Write;

fn main() {
    // Anything still buffered would be printed twice, once by each process.
    let _ = std::io::stdout().flush();
    // SAFETY: this program has a single thread, so the child inherits no lock held by
    // another thread; the child only prints and exits.
    let pid = unsafe { libc::fork() };

    if pid < 0 {
        println!("Fail to create process");
    } else if pid == 0 {
        println!(
            "I am child process ({}) and my parent is ({}).",
            std::process::id(),
            std::os::unix::process::parent_id()
        );
        let _ = std::io::stdout().flush();
        // SAFETY: leaves the child at once; it must not go on to run the parent's code.
        unsafe { libc::_exit(0) };
    } else {
        println!(
            "I ({}) just created a child process ({pid}).",
            std::process::id()
        );
        // The C and Python versions do not wait; a parent should reap its child.
        let mut status = 0;
        // SAFETY: `pid` is our child and `status` a valid out-pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
    }
}
