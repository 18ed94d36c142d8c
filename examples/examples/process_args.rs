//! Tutorial: passing arguments to a child's target, positional (`args=('test',)`) and
//! named (`kwargs={'name': 'egon', 'age': 18}`).
//!
//! ```text
//! cargo run --example process_args
//! ```
//!
//! What it teaches: an entry function `fn(A)` receives its arguments `A` in the child.
//! Positional arguments are a value or a tuple; named arguments are a struct with named
//! fields, the Rust form of `kwargs`. The arguments are serialized (rkyv) when the process
//! is built, so they reach the child with any start method, even `spawn`, which runs a
//! fresh copy of this program. (With `Process::new(closure)` a forked child simply sees
//! the variables the closure captured.)

use mp_process::{Process, StartMethod};
use rkyv::{Archive, Deserialize, Serialize};

/// 子进程要执行的代码: one positional argument.
fn child_proc(name: String) {
    println!("Run child process {name} ({})...", std::process::id());
}

/// Named arguments: Python's `kwargs={'name': 'egon', 'age': 18}`.
#[derive(Archive, Serialize, Deserialize)]
struct Person {
    name: String,
    age: u32,
}

fn child_proc_kwargs(Person { name, age }: Person) {
    println!(
        "Run child process {name} ({}), age {age}...",
        std::process::id()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init(); // first in main: a spawned child runs its entry here
    println!("Parent process {}.", std::process::id());

    // p = Process(target=child_proc, args=('test',)): `entry` borrows the arguments to
    // serialize them when the process is built (`&String`, since child_proc takes a
    // `String`).
    let mut p = Process::entry(child_proc, &"test".to_string())?;
    // Process(target=child_proc_kwargs, kwargs={'name': 'egon', 'age': 18}), started by
    // spawn: the arguments cross a fresh exec of this program.
    let kwargs = Person {
        name: "egon".into(),
        age: 18,
    };
    let mut q = Process::builder()
        .start_method(StartMethod::Spawn)
        .entry(child_proc_kwargs, &kwargs)?;

    println!("Process will start.");
    p.start()?;
    p.join();
    println!("Process end.");

    // Beyond the tutorial's example: the kwargs its text mentions.
    println!("== kwargs ==");
    q.start()?;
    q.join();
    Ok(())
}
