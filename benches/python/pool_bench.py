#!/usr/bin/env python3
"""Python's multiprocessing.Pool on the work of `cargo bench -p benches --bench pool`.

Usage: python3 benches/python/pool_bench.py [--quick]
Prints a Markdown table: apply_async round trip, map of tiny tasks (chunksize 1 and
default) per task, and map over 1 MiB bytes arguments per task; Pool(2), fork.
"""
import multiprocessing as mp
import sys
import time


def noop(x):
    return x


def inc(x):
    return x + 1


def touch(b):
    return sum(b[::4096])


def best(f, runs=3):
    return min(f() for _ in range(runs))


def main():
    quick = "--quick" in sys.argv
    mp.set_start_method("fork")
    n_rtt, n_map, n_big = (2_000, 20_000, 16) if quick else (10_000, 100_000, 64)
    with mp.Pool(2) as pool:
        pool.map(noop, range(100))  # warm up

        def rtt():
            t = time.perf_counter()
            for i in range(n_rtt):
                pool.apply_async(noop, (i,)).get()
            return (time.perf_counter() - t) / n_rtt

        def tiny(cs):
            def run():
                t = time.perf_counter()
                pool.map(inc, range(n_map), chunksize=cs)
                return (time.perf_counter() - t) / n_map
            return run

        big = [bytes([i % 256]) * (1 << 20) for i in range(8)]

        def large():
            t = time.perf_counter()
            for _ in range(n_big // 8):
                pool.map(touch, big, chunksize=1)
            return (time.perf_counter() - t) / n_big

        rows = [
            ("apply_async round trip", best(rtt)),
            ("map tiny, chunksize 1, per task", best(tiny(1))),
            ("map tiny, default chunksize, per task", best(tiny(None))),
            ("map 1 MiB args, per task", best(large)),
        ]
    print(f"Python {sys.version.split()[0]} multiprocessing.Pool(2), fork\n")
    print("| case | time | rate |")
    print("|---|---|---|")
    for name, secs in rows:
        print(f"| {name} | {secs * 1e6:.2f} µs | {1 / secs:,.0f}/s |")


if __name__ == "__main__":
    main()
