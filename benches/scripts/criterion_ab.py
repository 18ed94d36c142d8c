#!/usr/bin/env python3
"""Alternates copies of a criterion bench binary on a filter and prints, per case, the
median of each binary's rounds and every round: an A/B check for cases `spsc_ab` does
not cover (`get_ref`, `get_many`, byte sizes, 2p2c), on a host whose speed changes from
minute to minute.

Build each version with `cargo bench -p benches --bench queue --no-run` (or `--bench
ring`), and copy the binary it names (`target/release/deps/queue-<hash>`) aside, since
the next build overwrites it. Then:

    python3 benches/scripts/criterion_ab.py 5 'queue/1p1c/u64/' /tmp/queue.before /tmp/queue.after

Each of the 5 rounds runs every binary once, in turn, on the cases the filter (a regex,
criterion's) selects, with 1 s of warm-up and 2 s of measurement. Read medians together
with the rounds: a round far off in both binaries is the host, not the change.
"""
import re
import statistics
import subprocess
import sys
from collections import defaultdict

UNITS = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
# `name  time: [low mid high]`, the name alone on its line when it is long.
CASE = re.compile(r"^(\S+)\s*\n?\s+time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", re.M)


def main():
    if len(sys.argv) < 4 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit(__doc__)
    rounds, filt, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    times = defaultdict(lambda: defaultdict(list))
    args = ["--bench", "--noplot", "--discard-baseline"]
    args += ["--warm-up-time", "1", "--measurement-time", "2", filt]
    try:
        for _ in range(rounds):
            for b in bins:
                run = subprocess.run([b] + args, capture_output=True, text=True)
                if run.returncode != 0:
                    tail = "\n".join(run.stderr.splitlines()[-10:])
                    raise RuntimeError(f"{b} exited with {run.returncode}:\n{tail}")
                found = CASE.findall(run.stdout)
                if not found:
                    print(f"warning: {b} ran no case matching {filt!r}", file=sys.stderr)
                for name, value, unit in found:
                    times[name][b].append(float(value) * UNITS[unit])
    except (RuntimeError, KeyboardInterrupt) as e:
        print(f"stopped early, the rounds so far follow: {e}", file=sys.stderr)
    width = max(len(b) for b in bins)
    for name in sorted(times):
        print(name)
        for b in bins:
            v = times[name][b]
            if not v:
                print(f"  {b:{width}}  (no figure: the case is missing from this binary)")
                continue
            rounds_ns = ", ".join(f"{x:.1f}" for x in v)
            print(f"  {b:{width}}  median {statistics.median(v):9.1f} ns  [{rounds_ns}]")


if __name__ == "__main__":
    main()
