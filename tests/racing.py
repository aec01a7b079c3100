"""Running the same work from many threads released at once (the race tests)."""

import concurrent.futures
import threading


def all_at_once(n, work):
    """`work(index)` in `n` threads released together by a barrier; their results in order."""
    barrier = threading.Barrier(n)

    def run(index):
        barrier.wait()
        return work(index)

    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))
