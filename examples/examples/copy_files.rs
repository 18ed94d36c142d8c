//! The tutorials' exercise (练习): "copy many files from one folder to another, first in
//! one process, then with a process pool; compare the two."
//!
//! ```text
//! cargo run --release --example copy_files                  # its own data set in a temp dir
//! cargo run --release --example copy_files -- --quick       # a small data set
//! cargo run --release --example copy_files -- SRC DST       # your folders (DST must not exist)
//! ```
//!
//! The pool gets the files in chunks (a few hundred small files, or one large file, per
//! task), so each task's arguments are one record in shared memory and each worker copies
//! on its own. Both copies are then checked byte for byte against the source.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use mp_pool::Pool;

/// A chunk of files for one task: (source root, destination root, relative paths).
type Chunk = (String, String, Vec<String>);

/// Copies one chunk; returns the bytes copied, or the first error as text.
fn copy_chunk((src, dst, files): Chunk) -> Result<u64, String> {
    let mut bytes = 0;
    for rel in files {
        bytes +=
            copy_one(Path::new(&src), Path::new(&dst), &rel).map_err(|e| format!("{rel}: {e}"))?;
    }
    Ok(bytes)
}

fn copy_one(src: &Path, dst: &Path, rel: &str) -> std::io::Result<u64> {
    let to = dst.join(rel);
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::copy(src.join(rel), to)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _mp = mp_process::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = examples::quick(); // `--quick` or MP_EXAMPLES_QUICK=1
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();

    // `_tmp` holds the generated data set and both copies; removed however the run ends.
    let (src, dst_root, _tmp) = match paths.as_slice() {
        [s, d] => (PathBuf::from(s), PathBuf::from(d), None),
        [] => {
            let tmp = TempDir::new(
                std::env::temp_dir().join(format!("mp-copy-files-{}", std::process::id())),
            )?;
            let src = tmp.path.join("src");
            let (small, large) = if quick { (2_000, 1) } else { (20_000, 4) };
            println!(
                "generating {small} small files and {large} large ones in {}",
                src.display()
            );
            generate(&src, small, large, if quick { 4 << 20 } else { 32 << 20 })?;
            (src, tmp.path.clone(), Some(tmp))
        }
        _ => return Err("usage: copy_files [--quick] [SRC DST]".into()),
    };
    let files = list(&src)?;
    let total: u64 = files.iter().map(|(_, n)| n).sum();
    println!("{} files, {:.1} MB\n", files.len(), total as f64 / 1e6);

    // 1. One process: copy every file in turn.
    let dst1 = dst_root.join("copy-single");
    flush_to_disk(); // so the kernel's write-back of earlier files is not timed here
    let t = Instant::now();
    for (rel, _) in &files {
        copy_one(&src, &dst1, rel)?;
    }
    let single = t.elapsed().as_secs_f64();
    report("one process", files.len(), total, single);

    // 2. A pool: chunks of files, balanced by count and by bytes.
    let workers = mp_process::cpu_count().max(2);
    let dst2 = dst_root.join("copy-pool");
    let chunks = chunk(&src, &dst2, &files, workers);
    let n_chunks = chunks.len();
    flush_to_disk();
    let t = Instant::now();
    let pool = Pool::new(workers)?;
    let copied: u64 = pool
        .map_progress(copy_chunk, chunks, Some(1))? // a progress bar on stderr
        .into_iter()
        .map(|r| r.map_err(|e| e.to_string()).and_then(|r| r))
        .sum::<Result<u64, String>>()?;
    let pooled = t.elapsed().as_secs_f64();
    drop(pool);
    assert_eq!(copied, total);
    report(
        &format!("pool of {workers} ({n_chunks} tasks)"),
        files.len(),
        total,
        pooled,
    );
    println!("speedup: {:.2}x", single / pooled);

    // 3. Both copies, byte for byte.
    for dst in [&dst1, &dst2] {
        for (rel, _) in &files {
            if !same(&src.join(rel), &dst.join(rel))? {
                return Err(format!("{} differs from the source", dst.join(rel).display()).into());
            }
        }
    }
    println!("verified: both copies equal the source, byte for byte");
    let cores = mp_process::cpu_count();
    println!(
        "\nWhy the speedup is what it is: copying a file is system calls plus a memory copy \
         inside the kernel (the files sit in the page cache after being written), so the \
         work is CPU-bound in the kernel and splits across cores: with {cores} cores expect \
         up to {cores}x, less the pool's start-up and the per-file cost of open/create/close \
         that dominates tiny files. A figure above {cores}x means the one-process run was \
         slowed by something else (other load, the disk's write-back): run it again. When \
         the files are not cached and the disk is the bottleneck, more processes mostly add \
         seeks and the speedup shrinks toward 1x."
    );
    Ok(())
}

/// A directory this program created, removed with everything in it when dropped: on
/// success, on an error returned from `main` and on a panic alike.
struct TempDir {
    path: PathBuf,
    /// Only the process that created it removes it, never a forked child that drops a copy.
    owner: u32,
}

impl TempDir {
    /// Creates `path`, which must not exist yet (a directory left by an earlier run with
    /// the same pid is refused, not adopted and then removed).
    fn new(path: PathBuf) -> std::io::Result<TempDir> {
        fs::create_dir(&path)?;
        Ok(TempDir {
            path,
            owner: std::process::id(),
        })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::process::id() == self.owner {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// `sync(2)`: writes dirty pages out now, so neither timed copy pays for the other's.
/// Skipped in quick mode: its small data set makes little write-back to pay for, and on
/// a busy host `sync` can wait long for other programs' writes.
fn flush_to_disk() {
    if examples::quick() {
        return;
    }
    // SAFETY: sync takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

fn report(what: &str, files: usize, bytes: u64, secs: f64) {
    println!(
        "{what:<24} {secs:>7.2} s  {:>9.0} files/s  {:>8.1} MB/s",
        files as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}

/// Writes `small` files of 100 B - 8 KiB in 100 folders, and `large` files of `big` bytes.
fn generate(root: &Path, small: usize, large: usize, big: usize) -> std::io::Result<()> {
    let mut rng = examples::Rng::with_seed(0x2545_f491_4f6c_dd1d); // the same data every run
    for i in 0..small {
        let dir = root.join(format!("dir{:03}", i % 100));
        fs::create_dir_all(&dir)?;
        let len = rng.range(100, 8100) as usize;
        let data: Vec<u8> = (0..len).map(|j| (j as u64 ^ i as u64) as u8).collect();
        fs::write(dir.join(format!("file{i:05}.dat")), data)?;
    }
    for i in 0..large {
        let data: Vec<u8> = (0..big)
            .map(|j| (rng.next_u64() >> 56) as u8 ^ j as u8)
            .collect();
        fs::write(root.join(format!("large{i}.bin")), data)?;
    }
    Ok(())
}

/// Every regular file under `root`: (path relative to root, size), sorted.
fn list(root: &Path) -> std::io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir)? {
            let e = e?;
            let ty = e.file_type()?;
            if ty.is_dir() {
                dirs.push(e.path());
            } else if ty.is_file() {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, e.metadata()?.len()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// About four chunks per worker by count, and no chunk much over 16 MB: large files go
/// alone, so one worker is not left copying them all.
fn chunk(src: &Path, dst: &Path, files: &[(String, u64)], workers: usize) -> Vec<Chunk> {
    let per = files.len().div_ceil(4 * workers).max(1);
    let (s, d) = (
        src.to_string_lossy().into_owned(),
        dst.to_string_lossy().into_owned(),
    );
    let mut chunks = Vec::new();
    let (mut cur, mut bytes) = (Vec::new(), 0u64);
    for (rel, n) in files {
        if !cur.is_empty() && (cur.len() >= per || bytes + n > 16 << 20) {
            chunks.push((s.clone(), d.clone(), std::mem::take(&mut cur)));
            bytes = 0;
        }
        cur.push(rel.clone());
        bytes += n;
    }
    if !cur.is_empty() {
        chunks.push((s, d, cur));
    }
    chunks
}

fn same(a: &Path, b: &Path) -> std::io::Result<bool> {
    let (mut fa, mut fb) = (fs::File::open(a)?, fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}
