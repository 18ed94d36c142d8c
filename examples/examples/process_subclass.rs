//! Tutorial: the second way to make a process, Python's "subclass `Process` and override
//! `run()`": four `Piao` processes, each sleeping a random 1-4 s.
//!
//! ```text
//! cargo run --example process_subclass            # up to 4 s
//! cargo run --example process_subclass -- --quick
//! ```
//!
//! What it teaches: implement the `Run` trait on a struct (its fields are Python's
//! attributes set in `__init__`) and start it with `Process::builder().run(value)`;
//! `start` calls `run` in the child. Four objects, four child processes, plus the main
//! one: five in all. The main process prints `主` at once and does not wait; the `_mp`
//! guard joins the children when `main` returns, as Python does at exit.

use examples::{pause, Rng};
use mp_process::{Process, Run};

struct Piao {
    name: String,
}

impl Run for Piao {
    fn run(&mut self) {
        println!("{} piaoing", self.name);
        // Seeded in the child, so each child draws its own: randrange(1, 5) is 1..=4.
        let secs = Rng::new().range(1, 5);
        pause(secs as f64);
        println!("{} piao end", self.name);
    }
}

fn main() -> Result<(), mp_process::StartError> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does

    // 实例化得到四个对象; `name` also names the process (Python's self.name = name).
    let mut ps: Vec<Process> = ["egon", "alex", "wupeiqi", "yuanhao"]
        .into_iter()
        .map(|name| {
            let piao = Piao { name: name.into() };
            Process::builder().name(name).run(piao)
        })
        .collect();
    // 调用对象下的方法，开启四个进程
    for p in &mut ps {
        p.start()?; // start会自动调用run
    }
    println!("主");
    Ok(())
}
