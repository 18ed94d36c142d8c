#!/usr/bin/env python3
"""Alternates builds of `spsc_ab` and summarizes them per round: an A/B check that
survives this host's noise better than comparing two separate runs.

Build each version and copy `target/release/spsc_ab` aside (the next build overwrites
it), then:

    python3 benches/scripts/ab.py 20 /tmp/spsc_ab.before /tmp/spsc_ab.after

Each of the 20 rounds runs every binary once, in turn, with 1,000,000 messages. Each run
measures crossbeam in the same round, so the script reports rates against crossbeam's as
quartiles of the per-round ratios (the values at ranks n/4, n/2 and 3n/4 of the sorted
rounds, so the middle one is the upper median when n is even), and the medians of the
nanosecond figures.
"""
import re
import statistics
import subprocess
import sys


def quartiles(v):
    v = sorted(v)
    n = len(v)
    return f"{v[n // 4]:.2f} / {v[n // 2]:.2f} / {v[(3 * n) // 4]:.2f}"


def main():
    if len(sys.argv) < 3 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit(__doc__)
    rounds, bins = int(sys.argv[1]), sys.argv[2:]
    res = {b: {"cb": [], "ring": [], "q": [], "one": [], "work": []} for b in bins}
    for _ in range(rounds):
        for b in bins:
            out = subprocess.run([b, "1000000", "1"], capture_output=True, text=True,
                                 check=True).stdout
            m = re.search(r"crossbeam ([\d.]+) ns, ring ([\d.]+) ns.*Queue<u64> ([\d.]+) ns", out)
            one = re.search(r"one thread: .*median ([\d.]+) ns", out)
            work = re.search(r"working consumer: crossbeam ([\d.]+) ns, ring ([\d.]+) ns", out)
            if not m:
                sys.exit(f"{b}: unexpected output:\n{out}")
            d = res[b]
            d["cb"].append(float(m[1]))
            d["ring"].append(float(m[2]))
            d["q"].append(float(m[3]))
            if one:
                d["one"].append(float(one[1]))
            if work:
                d["work"].append(float(work[1]) / float(work[2]))
    for b in bins:
        d = res[b]
        print(b)
        print(f"  ring 8 B: median {statistics.median(d['ring']):.0f} ns, rate against crossbeam "
              f"{quartiles([c / x for c, x in zip(d['cb'], d['ring'])])}")
        print(f"  Queue<u64>: median {statistics.median(d['q']):.0f} ns, rate against crossbeam "
              f"{quartiles([c / x for c, x in zip(d['cb'], d['q'])])}")
        if d["one"]:
            print(f"  Queue<u64> put+get in one thread: median {statistics.median(d['one']):.0f} ns")
        if d["work"]:
            print(f"  ring with a working consumer, rate against crossbeam: {quartiles(d['work'])}")


if __name__ == "__main__":
    main()
