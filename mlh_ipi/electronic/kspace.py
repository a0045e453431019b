"""Real-space blocks X_ij(R) -> AO matrices at any k (and at Gamma).

Convention (as PySCF's ``pbc_intor``):

    X(k)_{mu nu} = sum_R exp(2 pi i k_frac . R) X_{mu nu}(R),   mu on atom i, nu on atom j,

with ``k_frac`` in units of the reciprocal lattice vectors and R integer.
Blocks come as ``pairs`` (P, 5) rows ``(i, j, R1, R2, R3)`` and a matching list
(or stacked array) of ``norb_i x norb_j`` blocks in ``OrbitalLayout`` order.
Works the same for DFT and for predicted blocks.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def assemble(pairs: np.ndarray, blocks: Sequence[np.ndarray], offsets: np.ndarray,
             kpt_frac: np.ndarray | None = None) -> np.ndarray:
    """Dense X(k) (nao x nao); real at Gamma (``kpt_frac`` None or zero), complex otherwise."""
    pairs = np.asarray(pairs)
    nao = int(offsets[-1])
    gamma = kpt_frac is None or not np.any(kpt_frac)
    out = np.zeros((nao, nao), dtype=float if gamma else complex)
    if gamma:
        phases = np.ones(len(pairs))
    else:
        phases = np.exp(2j * np.pi * pairs[:, 2:] @ np.asarray(kpt_frac, dtype=float))
    for (i, j), ph, blk in zip(pairs[:, :2], phases, blocks):
        out[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] += ph * blk
    return out


def gamma_blocks(matrix: np.ndarray, offsets: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Split a dense Gamma matrix into atom-pair blocks ``{(i, j): X_ij}``."""
    n = len(offsets) - 1
    return {(i, j): matrix[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]]
            for i in range(n) for j in range(n)}
