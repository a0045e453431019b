"""Band structures from real-space blocks: H(k), S(k) along a path, eigenvalues in eV."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase.cell import Cell

from mlh_ipi.electronic.eigen import band_edges, solve
from mlh_ipi.electronic.kspace import assemble
from mlh_ipi.units import HARTREE


@dataclass(frozen=True)
class BandStructure:
    kpts_frac: np.ndarray      # (nk, 3)
    x: np.ndarray              # (nk,) path coordinate, 1/Angstrom
    special_x: np.ndarray
    special_labels: list[str]
    energies_ev: np.ndarray    # (nk, nbands)
    nelectron: int

    def edges(self):
        """VBM, CBM and gap over the whole path (eV), closed-shell filling of ``nelectron``."""
        return band_edges(self.energies_ev / HARTREE, self.nelectron)


def eigenvalues_at(kpts_frac: np.ndarray, pairs: np.ndarray, h_blocks: Sequence[np.ndarray],
                   s_pairs: np.ndarray, s_blocks: Sequence[np.ndarray],
                   offsets: np.ndarray) -> np.ndarray:
    """Eigenvalues in eV, shape (nk, nao), of H(k) c = e S(k) c (H blocks in Hartree)."""
    out = []
    for k in np.atleast_2d(kpts_frac):
        e, _ = solve(assemble(pairs, h_blocks, offsets, k), assemble(s_pairs, s_blocks, offsets, k))
        out.append(e * HARTREE)
    return np.asarray(out)


def band_structure(cell_a: np.ndarray, pairs, h_blocks, s_pairs, s_blocks, offsets,
                   nelectron: int, path: str | None = None, npoints: int = 60) -> BandStructure:
    """Bands along ``path`` (ASE special-point string; default: ASE's path for the lattice)."""
    bp = Cell(np.asarray(cell_a)).bandpath(path, npoints=npoints)
    x, sx, labels = bp.get_linear_kpoint_axis()
    e = eigenvalues_at(bp.kpts, pairs, h_blocks, s_pairs, s_blocks, offsets)
    return BandStructure(bp.kpts, x, sx, list(labels), e, nelectron)
