//! Tutorial: the first way to make a process, `Process(target=piao, args=('egon',))`:
//! four processes, each sleeping a random 1-4 s (开启进程的方式一). `process_subclass` is
//! the second way.
//!
//! ```text
//! cargo run --example piao            # up to 4 s
//! cargo run --example piao -- --quick
//! ```
//!
//! What it teaches: `Process::entry(f, &args)` is `target=f, args=args`: the arguments are
//! serialized, so the same call works with every start method. The main process prints
//! `主` at once and does not wait; the `_mp` guard joins the children when `main` returns,
//! as Python does at exit. Exercise 1 asks how many processes each way starts: four
//! children plus the main one, five in all, either way. `wupeqi` is spelled as in the
//! tutorial's code.

use examples::{pause, Rng};
use mp_process::Process;

fn piao(name: String) {
    println!("{name} piaoing");
    // Seeded in the child, so each child draws its own: randrange(1, 5) is 1..=4.
    pause(Rng::new().range(1, 5) as f64);
    println!("{name} piao end");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init(); // joins the children when main returns, as Python does

    // 实例化得到四个对象
    let mut p1 = Process::entry(piao, &"egon".to_string())?;
    let mut p2 = Process::entry(piao, &"alex".to_string())?;
    let mut p3 = Process::entry(piao, &"wupeqi".to_string())?;
    let mut p4 = Process::entry(piao, &"yuanhao".to_string())?;
    // 调用对象下的方法，开启四个进程
    p1.start()?;
    p2.start()?;
    p3.start()?;
    p4.start()?;
    println!("主");
    Ok(())
}
