"""Python's multiprocessing.Lock on the same two cases as benches/benches/sync.rs.

    python3 benches/python/sync_lock.py

- uncontended: acquire + release in one process, nobody else (ns per pair).
- handoff: three locks rotate between two processes, each side waiting in `acquire` for
  the lock the other holds (as the Rust bench's `Handoff`): one iteration = the parent
  releases a lock the peer waits for and takes the one the peer then releases.
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


def peer(m, ready, stop):
    m[2].acquire()
    ready.value = 1
    i = 0
    while True:
        m[i].acquire()
        if stop.value:  # the parent set it before the release that let us in
            m[i].release()
            m[(i + 2) % 3].release()
            return
        m[(i + 2) % 3].release()
        i = (i + 1) % 3


def handoff(iters):
    m = [mp.Lock() for _ in range(3)]
    ready, stop = mp.RawValue("i", 0), mp.RawValue("i", 0)
    m[0].acquire()
    m[1].acquire()
    child = mp.Process(target=peer, args=(m, ready, stop))
    child.start()
    while not ready.value:
        time.sleep(0)
    i = 0
    t = time.perf_counter()
    for _ in range(iters):
        m[i].release()
        m[(i + 2) % 3].acquire()
        i = (i + 1) % 3
    took = time.perf_counter() - t
    stop.value = 1
    m[i].release()  # lets the peer in, to see the flag and leave
    m[(i + 2) % 3].acquire()
    child.join()
    return took / iters


def main():
    mp.set_start_method("fork")
    un = statistics.median(uncontended(1_000_000) for _ in range(5))
    ho = statistics.median(handoff(20_000) for _ in range(5))
    print(f"python multiprocessing.Lock uncontended acquire+release: {un * 1e9:.0f} ns")
    print(f"python multiprocessing.Lock handoff step (3 locks, 2 processes): {ho * 1e6:.2f} us")


if __name__ == "__main__":
    main()
