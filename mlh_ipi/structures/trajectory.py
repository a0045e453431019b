"""Picking frames from a trajectory (relaxation or MD) for labelling."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms


def evenly_in_path_length(frames: Sequence[Atoms], n: int, include_first: bool = False) -> list[int]:
    """Indices of ``n`` frames evenly spaced in cumulative displacement (Angstrom).

    The path length is the sum of the Frobenius norms of the position changes
    between consecutive frames, so a relaxation's large early moves and its slow
    approach to the minimum are sampled alike; the last frame is always picked,
    the first only with ``include_first``. Fewer than ``n`` come back when
    frames coincide in path length (e.g. a short trajectory).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not frames:
        raise ValueError("no frames")
    pos = np.stack([a.positions for a in frames])
    if len(frames) == 1:
        return [0]
    step = np.linalg.norm((pos[1:] - pos[:-1]).reshape(len(pos) - 1, -1), axis=1)
    path = np.concatenate([[0.0], np.cumsum(step)])
    fractions = np.arange(0, n) / (n - 1) if include_first and n > 1 else np.arange(1, n + 1) / n
    picked = {int(np.argmin(np.abs(path - f * path[-1]))) for f in fractions}
    picked.add(len(frames) - 1)
    if not include_first:
        picked.discard(0)
    return sorted(picked)
