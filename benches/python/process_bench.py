#!/usr/bin/env python3
"""Python's multiprocessing.Process start+join per start method, to set beside
`cargo bench -p benches --bench process` (run both on the same machine, same moment).

Usage: python3 benches/python/process_bench.py [rounds]
Prints one markdown row per method: median and mean time of start()+join() of a
process whose target does nothing, after one warm-up (which starts the forkserver).
"""
import multiprocessing as mp
import statistics
import sys
import time


def nothing():
    pass


def measure(method, rounds):
    ctx = mp.get_context(method)
    p = ctx.Process(target=nothing)  # warm-up: starts the forkserver, imports
    p.start()
    p.join()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        p = ctx.Process(target=nothing)
        p.start()
        p.join()
        times.append(time.perf_counter() - t)
        assert p.exitcode == 0
    return statistics.median(times), statistics.mean(times)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    print(f"| Python {sys.version.split()[0]} method | median | mean | rounds |")
    print("|---|---|---|---|")
    for method in ("fork", "forkserver", "spawn"):
        med, mean = measure(method, rounds)
        print(f"| {method} | {med * 1e3:.2f} ms | {mean * 1e3:.2f} ms | {rounds} |")


if __name__ == "__main__":
    main()
