//! Tutorial: "multiprocessing depends on the platform". A random number drawn at start-up
//! is the same in a forked child (Linux's default before Python 3.14) and differs in a
//! spawned one (Windows has no fork, so Python there always spawns).
//!
//! ```text
//! cargo run --example start_methods
//! ```
//!
//! What it teaches: a **fork** child is a copy of the parent, globals included, so it
//! sees the parent's number. A **spawn** child is a fresh run of this program: it draws
//! its own number, as Python re-imports the main module on Windows. **forkserver** children
//! are forked from a fresh server program, so they draw their own too. Any state a child
//! needs should reach it as arguments, whatever the start method.

use std::sync::LazyLock;

use examples::Rng;
use mp_process::{Process, StartMethod};

// num = random.randint(0, 100): drawn the first time it is read, which in the parent is
// at start-up (right after `init()` in main). A forked child inherits the drawn value; a spawned
// child never ran the parent's main, so it draws again when show_num first reads it.
static NUM: LazyLock<u64> = LazyLock::new(|| Rng::new().range(0, 101));

fn show_num(_: ()) {
    println!("pid:{}, num is {}", std::process::id(), *NUM);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init(); // first in main: a spawned child runs show_num here
    let num = *NUM;
    // The tutorial runs its program once on Windows (spawn) and once on Linux (fork);
    // here one run shows each start method in turn, the parent's line and then the
    // child's, as each of the tutorial's two outputs does.
    for method in [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::Forkserver,
    ] {
        println!("== {method} ==");
        println!("pid:{}, num is {num}", std::process::id());
        let mut p = Process::builder()
            .start_method(method)
            .entry(show_num, &())?;
        p.start()?;
        p.join();
    }
    Ok(())
}
