#!/usr/bin/env python3
"""Python's multiprocessing.Queue and faster-fifo on the sizes of `cargo bench --bench queue`.

Usage: python3 benches/python/queue_bench.py [--quick] [--repeat R]

One producer process puts N messages, this process gets them (1p1c); for 8 B also two
producers and two consumers (2p2c). Each case runs R times (default 5), with a fresh
queue and processes each time; prints the median messages/s per case as a Markdown table,
then the slowest and fastest of the R. The median is what BENCHMARKS.md compares against:
one run of a case lasts 0.1-1 s, and single runs here have varied by 1.5x within an hour.
faster-fifo is installed into benches/python/.venv with pip on first use; when pip cannot
install it, its rows say "skipped" and why.
"""
import multiprocessing as mp
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
SIZES = [8, 64, 1024, 64 * 1024, 1024 * 1024]


def ensure_venv():
    """Re-runs this script inside a venv that has faster-fifo, if pip can install it."""
    if os.environ.get("QUEUE_BENCH_IN_VENV"):
        return
    py = os.path.join(VENV, "bin", "python")
    try:
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "faster-fifo"], check=True,
                       timeout=600)
    except Exception as e:  # no venv module, no network, no compiler...
        print(f"note: cannot install faster-fifo ({e}); measuring multiprocessing only",
              file=sys.stderr)
        return
    env = dict(os.environ, QUEUE_BENCH_IN_VENV="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def count_for(size, quick):
    budget = 20_000_000 if quick else 200_000_000  # bytes moved per case
    return max(200, min(200_000 if not quick else 20_000, budget // max(size, 64)))


def message(size):
    return 12345 if size == 8 else b"x" * size


def produce(q, n, size, ready=None):
    m = message(size)
    if ready is not None:
        ready.wait()
    for _ in range(n):
        q.put(m)


def consume(q, n, done, ready):
    ready.wait()
    for _ in range(n):
        q.get()
    done.put(1)


# The timers start once every peer process is running (a barrier), so that process
# start-up (about 2 ms a fork here) is not counted against Python.


def one_to_one(make, size, n):
    q, ready = make(), mp.Barrier(2)
    p = mp.Process(target=produce, args=(q, n, size, ready))
    p.start()
    ready.wait()
    t = time.perf_counter()
    for _ in range(n):
        q.get()
    took = time.perf_counter() - t
    p.join()
    return n / took


def two_by_two(make, size, n):
    q, done, ready = make(), mp.Queue(), mp.Barrier(5)
    half = n // 2
    procs = [mp.Process(target=consume, args=(q, half, done, ready)) for _ in range(2)]
    procs += [mp.Process(target=produce, args=(q, half, size, ready)) for _ in range(2)]
    for p in procs:
        p.start()
    ready.wait()
    t = time.perf_counter()
    for _ in range(2):
        done.get()
    took = time.perf_counter() - t
    for p in procs:
        p.join()
    return 2 * half / took


def human(size):
    if size >= 1 << 20:
        return f"{size >> 20} MiB"
    if size >= 1 << 10:
        return f"{size >> 10} KiB"
    return f"{size} B"


def runs(case, repeat):
    """`case()` `repeat` times: (median, slowest, fastest) messages/s."""
    got = sorted(case() for _ in range(repeat))
    return got[len(got) // 2], got[0], got[-1]


def rate(x):
    return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} K"


def main():
    quick = "--quick" in sys.argv
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    mp.set_start_method("fork")
    systems = [("multiprocessing.Queue", lambda: mp.Queue())]
    try:
        import faster_fifo
        systems.append(("faster-fifo", lambda: faster_fifo.Queue(max_size_bytes=16 << 20)))
    except ImportError:
        print("note: faster-fifo not available; its rows are skipped", file=sys.stderr)
    print(f"Python {sys.version.split()[0]}, messages/s (1 producer process -> 1 consumer),"
          f" median of {repeat} runs\n")
    header = "| system | " + " | ".join(human(s) for s in SIZES) + " | 2p2c 8 B |"
    rule = "|---" * (len(SIZES) + 2) + "|"
    print(header)
    print(rule)
    spreads = []
    for name, make in systems:
        cases = [lambda s=s: one_to_one(make, s, count_for(s, quick)) for s in SIZES]
        cases.append(lambda: two_by_two(make, 8, count_for(8, quick)))
        got = [runs(case, repeat) for case in cases]
        print(f"| {name} | " + " | ".join(rate(m) for m, _, _ in got) + " |", flush=True)
        spreads.append((name, got))
    print(f"\nSlowest - fastest of the {repeat} runs\n")
    print(header)
    print(rule)
    for name, got in spreads:
        print(f"| {name} | " + " | ".join(f"{rate(lo)} - {rate(hi)}" for _, lo, hi in got) + " |")


if __name__ == "__main__":
    ensure_venv()
    main()
