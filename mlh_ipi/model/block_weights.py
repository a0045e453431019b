"""Loss weights for the elements of ``H^Gamma`` by the kind of atom pair they couple.

Half of the model's absolute H error sits in the on-site blocks and the
nearest-neighbour (bond) blocks, which are a few per cent of the elements but
set the band edges and defect levels (BENCHMARKS.md §4h). An unweighted loss
over all ``nao^2`` elements spends most of its attention on the small
long-range tail. These weights let the training count an on-site element
``onsite`` times and an element of a pair closer than ``near_cutoff_a``
(Angstrom, minimum-image distance) ``near`` times; every other element counts
once.
"""
from __future__ import annotations

import numpy as np
from ase.geometry import get_distances


def pair_weights(positions_a: np.ndarray, cell_a: np.ndarray, onsite: float, near: float,
                 near_cutoff_a: float) -> np.ndarray:
    """(N, N) weight per atom pair: ``onsite`` on the diagonal, ``near`` for pairs
    closer than ``near_cutoff_a`` (minimum image, Angstrom), 1 otherwise."""
    _, dist = get_distances(np.asarray(positions_a), cell=np.asarray(cell_a), pbc=True)
    w = np.where(dist < near_cutoff_a, float(near), 1.0)
    np.fill_diagonal(w, float(onsite))
    return w


def gamma_weights(positions_a: np.ndarray, cell_a: np.ndarray, atom_offsets: np.ndarray,
                  onsite: float, near: float, near_cutoff_a: float) -> np.ndarray:
    """Row-major flattened (nao * nao,) weights of the ``H^Gamma`` elements of one
    structure, in the order of :func:`mlh_ipi.model.gamma.gamma_flat`."""
    w = pair_weights(positions_a, cell_a, onsite, near, near_cutoff_a)
    atom_of_ao = np.repeat(np.arange(len(w)), np.diff(np.asarray(atom_offsets)))
    return w[np.ix_(atom_of_ao, atom_of_ao)].ravel()
