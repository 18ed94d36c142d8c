//! Helpers shared by the example programs: a quick mode for tests, scaled sleeps, a tiny
//! random number generator and Python's `time.ctime()`.
//!
//! ```
//! use examples::{pause, Rng};
//!
//! let mut rng = Rng::new();
//! let secs = rng.range(1, 4); // like Python's random.randrange(1, 4): 1, 2 or 3
//! assert!((1..4).contains(&secs));
//! pause(0.01); // time.sleep(0.01), or a tenth of it in quick mode
//! ```

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that turns on quick mode (`MP_EXAMPLES_QUICK=1`).
pub const QUICK_ENV: &str = "MP_EXAMPLES_QUICK";

/// How much quick mode shortens every [`pause`].
pub const QUICK_FACTOR: f64 = 0.1;

/// True when the program runs in quick mode: `--quick` on the command line or
/// `MP_EXAMPLES_QUICK=1` in the environment. Quick mode shortens every sleep tenfold so
/// that the tests run each example in a fraction of a second.
///
/// Read once and remembered; a forked child inherits the answer, a spawned child reads
/// the same environment and arguments again.
pub fn quick() -> bool {
    static QUICK: OnceLock<bool> = OnceLock::new();
    *QUICK.get_or_init(|| {
        std::env::var(QUICK_ENV).is_ok_and(|v| v == "1") || std::env::args().any(|a| a == "--quick")
    })
}

/// `secs` seconds, or a tenth of that in [`quick`] mode.
pub fn scaled(secs: f64) -> Duration {
    let secs = if quick() { secs * QUICK_FACTOR } else { secs };
    Duration::from_secs_f64(secs.max(0.0))
}

/// Python's `time.sleep(secs)`, shortened in [`quick`] mode.
pub fn pause(secs: f64) {
    std::thread::sleep(scaled(secs));
}

/// A tiny random number generator (splitmix64), enough for "sleep a random 1-3 s".
///
/// [`Rng::new`] seeds from the pid and the clock, so every process draws its own
/// numbers, as Python's `random` does after a fork. Not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from this process's pid and the current time.
    pub fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::with_seed(nanos ^ (u64::from(std::process::id()) << 32))
    }

    /// A generator with a fixed seed (the same numbers every run).
    pub fn with_seed(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Python's `random.randrange(lo, hi)`: a number in `lo..hi` (`lo` if the range is
    /// empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    /// Python's `random.random()`: a float in `[0, 1)`.
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Python's `random.choice(items)`.
    ///
    /// # Panics
    /// If `items` is empty (Python raises `IndexError`).
    pub fn choice<T: Copy>(&mut self, items: &[T]) -> T {
        assert!(!items.is_empty(), "choice from an empty slice");
        items[self.range(0, items.len() as u64) as usize]
    }
}

impl Default for Rng {
    fn default() -> Rng {
        Rng::new()
    }
}

/// Python's `time.ctime()`: the local time as `Thu Jun 10 12:34:56 2021`.
pub fn ctime() -> String {
    // SAFETY: time(NULL) only returns the time.
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: `tm` is a plain C struct; all-zero is a valid value to be overwritten.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is the thread-safe form.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return format!("{now}");
    }
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_stays_in_bounds() {
        let mut r = Rng::with_seed(1);
        for _ in 0..10_000 {
            assert!((1..5).contains(&r.range(1, 5)));
            let f = r.random();
            assert!((0.0..1.0).contains(&f));
        }
        assert_eq!(r.range(3, 3), 3);
    }

    #[test]
    fn choice_reaches_every_item() {
        let mut r = Rng::with_seed(7);
        let mut seen = [false; 3];
        for _ in 0..1000 {
            seen[r.choice(&[0usize, 1, 2])] = true;
        }
        assert_eq!(seen, [true; 3]);
    }

    #[test]
    fn ctime_has_python_shape() {
        let t = ctime();
        let parts: Vec<&str> = t.split_whitespace().collect();
        assert_eq!(parts.len(), 5, "{t}");
        assert_eq!(parts[3].len(), 8, "{t}");
    }
}
