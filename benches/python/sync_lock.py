"""Python's multiprocessing.Lock on the same two cases as benches/benches/sync.rs.

    python3 benches/python/sync_lock.py

- uncontended: acquire + release in one process, nobody else (ns per pair).
- handoff: two processes take strict turns through the lock, reading a shared turn word
  under it (as the Rust bench); one iteration = a turn to the other process and back.
Stdlib only; fork start method (Linux). Prints the median of 5 runs.
"""
import multiprocessing as mp
import os
import statistics
import time


def uncontended(n):
    lock = mp.Lock()
    acquire, release = lock.acquire, lock.release
    t = time.perf_counter()
    for _ in range(n):
        acquire()
        release()
    return (time.perf_counter() - t) / n


def take_turns(lock, turn, mine, iters):
    for i in range(iters):
        want = 2 * i + mine
        while True:
            with lock:
                if turn.value == want:
                    turn.value = want + 1
                    break
            os.sched_yield()


def handoff(iters):
    lock = mp.Lock()
    turn = mp.RawValue("q", 0)
    child = mp.Process(target=take_turns, args=(lock, turn, 1, iters))
    child.start()
    t = time.perf_counter()
    take_turns(lock, turn, 0, iters)
    while turn.value != 2 * iters:
        pass
    took = time.perf_counter() - t
    child.join()
    return took / iters


def main():
    mp.set_start_method("fork")
    un = statistics.median(uncontended(1_000_000) for _ in range(5))
    ho = statistics.median(handoff(20_000) for _ in range(5))
    print(f"python multiprocessing.Lock uncontended acquire+release: {un * 1e9:.0f} ns")
    print(f"python multiprocessing.Lock handoff round trip (2 processes): {ho * 1e6:.2f} us")


if __name__ == "__main__":
    main()
