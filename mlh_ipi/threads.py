"""Thread settings for small machines: BLAS/OpenMP and torch share the cores sensibly."""
from __future__ import annotations

import os

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def default_threads() -> int:
    """Cores available to this process (affinity-aware), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(n: int | None = None) -> int:
    """Set OpenMP/BLAS variables (if unset) and torch's intra-op threads to ``n``.

    Call before heavy imports where possible; environment variables set by the
    user win. Returns the thread count used.
    """
    n = n or int(os.environ.get("MLH_IPI_THREADS", 0)) or default_threads()
    for var in _VARS:
        os.environ.setdefault(var, str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass
    return n
