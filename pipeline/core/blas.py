"""One BLAS thread where a number must not depend on the machine's core count.

A multi-threaded BLAS splits a matrix product's sums between its threads, so the last bits of the
result depend on how many threads ran: a least-squares bridge fitted with ``OMP_NUM_THREADS=1`` and
with 2 threads had other weights, and a logistic probe another accuracy. Inside ``one_thread()``
every product is summed in one order, so the same BLAS build gives the same bits on a laptop and on
a 64-core server, as ``threads: 1`` does for the torch bridges. The products it wraps are small
(d x d moments, a probe's features), so one thread costs little.
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_thread() -> threadpool_limits:
    """A context in which BLAS (OpenBLAS, MKL, BLIS) runs on one thread."""
    return threadpool_limits(limits=1, user_api="blas")
