"""Periodic structure graphs for the Hamiltonian model (numpy only).

A ``StructureGraph`` holds every directed atom pair ``(i, j, R)`` with
``|r_j + R . cell - r_i| < cutoff`` (Angstrom): both directions, periodic
images and self-images ``(i, i, R != 0)``, never ``(i, i, 0)``. ``R`` is an
integer lattice translation in units of the cell vectors (rows of ``cell_a``),
so the edge vector is ``positions_a[j] - positions_a[i] + shifts @ cell_a``.

Two edge sets share one neighbour list:

* Hamiltonian edges (``cutoff_h``): every ``(i, j, R)`` for which the model
  predicts a block ``H_ij(R)``; ``reverse[e]`` is the index of ``(j, i, -R)``.
* message-passing edges (``cutoff_mp``): the interaction graph of the network.

The Gamma-point matrix a label stores is ``H^Gamma_ij = sum_R H_ij(R)`` (plus
the on-site block ``H_ii(0)``), in the ``OrbitalLayout`` AO order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from mlh_ipi.dft.types import Label
from mlh_ipi.orbitals import OrbitalLayout


@dataclass
class StructureGraph:
    """One periodic structure as the model sees it. Lengths in Angstrom, H in Hartree.

    Attributes
    ----------
    symbols, positions_a (N, 3), cell_a (3, 3): the structure.
    species (N,): index of each atom's element in ``layout.elements``.
    atom_offsets (N + 1,): AO offsets from the layout.
    edge_index (2, E): ``(i, j)`` of the Hamiltonian edges; ``shifts`` (E, 3) int ``R``.
    reverse (E,): index of the reverse edge ``(j, i, -R)``.
    edge_vectors_a (E, 3): ``r_j + R . cell - r_i``.
    mp_edge_index (2, M), mp_shifts (M, 3): the message-passing edges.
    hamiltonian_ha: optional target ``H^Gamma`` (nao x nao); ``overlap``: optional ``S^Gamma``.
    baseline_ha: the baseline ``H_0`` (Hartree) already subtracted from ``hamiltonian_ha`` when a
    baseline model is trained with an eigenvalue term (the eigenvalues are those of ``H_0 + ΔH``).
    source: ``(k, file name)`` of the label it came from, ``k`` the index of its folder in the list
    read (:func:`mlh_ipi.data.dataset.iter_graphs`); ``None`` for graphs not read from label folders.
    """

    symbols: list[str]
    positions_a: np.ndarray
    cell_a: np.ndarray
    layout: OrbitalLayout
    species: np.ndarray
    atom_offsets: np.ndarray
    cutoff_h: float
    cutoff_mp: float
    edge_index: np.ndarray
    shifts: np.ndarray
    reverse: np.ndarray
    mp_edge_index: np.ndarray
    mp_shifts: np.ndarray
    hamiltonian_ha: np.ndarray | None = None
    overlap: np.ndarray | None = None
    nelectron: int | None = None
    name: str = ""
    baseline_ha: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    source: tuple[int, str] | None = None

    @property
    def natoms(self) -> int:
        return len(self.symbols)

    @property
    def nao(self) -> int:
        return int(self.atom_offsets[-1])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    @property
    def edge_vectors_a(self) -> np.ndarray:
        i, j = self.edge_index
        return (self.positions_a[j] - self.positions_a[i]) + self.shifts @ self.cell_a

    @property
    def pairs(self) -> np.ndarray:
        """``(E, 5)`` rows ``(i, j, R1, R2, R3)`` of the Hamiltonian edges."""
        return np.concatenate([self.edge_index.T, self.shifts], axis=1).astype(np.int64)


def build_graph(symbols: Sequence[str], positions_a: np.ndarray, cell_a: np.ndarray,
                layout: OrbitalLayout, cutoff_h: float, cutoff_mp: float,
                name: str = "") -> StructureGraph:
    """Neighbour lists at ``cutoff_h`` (Hamiltonian edges) and ``cutoff_mp`` (messages), Angstrom."""
    symbols = [str(s) for s in symbols]
    layout.check_symbols(symbols)
    if cutoff_h <= 0 or cutoff_mp <= 0:
        raise ValueError(f"cutoffs must be positive (Angstrom), got r_H={cutoff_h}, r_mp={cutoff_mp}")
    positions_a = np.asarray(positions_a, dtype=np.float64)
    cell_a = np.asarray(cell_a, dtype=np.float64)
    atoms = Atoms(symbols, positions=positions_a, cell=cell_a, pbc=True)
    elements = list(layout.elements)
    species = np.array([elements.index(s) for s in symbols], dtype=np.int64)
    # a small margin, then our own distances: (r_j - r_i) + R.cell is exactly antisymmetric
    # under (i, j, R) -> (j, i, -R), so an edge and its reverse are always both in or both out
    i, j, S = neighbor_list("ijS", atoms, max(cutoff_h, cutoff_mp) + 1e-6)
    i, j, S = _canonical_order(i, j, S, species[i] * len(elements) + species[j])
    d = np.linalg.norm((positions_a[j] - positions_a[i]) + S @ cell_a, axis=1)
    h = d < cutoff_h
    mp = d < cutoff_mp
    edge_index = np.stack([i[h], j[h]]).astype(np.int64)
    shifts = S[h].astype(np.int64)
    return StructureGraph(
        symbols=symbols,
        positions_a=positions_a,
        cell_a=cell_a,
        layout=layout,
        species=species,
        atom_offsets=layout.atom_offsets(symbols),
        cutoff_h=float(cutoff_h),
        cutoff_mp=float(cutoff_mp),
        edge_index=edge_index,
        shifts=shifts,
        reverse=reverse_edges(edge_index, shifts),
        mp_edge_index=np.stack([i[mp], j[mp]]).astype(np.int64),
        mp_shifts=S[mp].astype(np.int64),
        name=name,
    )


def graph_from_label(lab: Label, cutoff_h: float, cutoff_mp: float, name: str = "") -> StructureGraph:
    """The graph of a label's structure, with ``H^Gamma`` and ``S^Gamma`` as targets."""
    g = build_graph(lab.symbols, lab.positions_a, lab.cell_a, lab.layout, cutoff_h, cutoff_mp, name)
    g.hamiltonian_ha = np.asarray(lab.hamiltonian_ha, dtype=np.float64)
    g.overlap = np.asarray(lab.overlap, dtype=np.float64)
    g.nelectron = int(lab.nelectron)
    g.info = dict(lab.info)
    return g


def reverse_edges(edge_index: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Index of ``(j, i, -R)`` for every edge ``(i, j, R)``; ``ValueError`` if one is missing."""
    i, j = edge_index
    if len(i) == 0:
        return np.zeros(0, dtype=np.int64)
    fwd = _edge_keys(i, j, shifts)
    bwd = _edge_keys(j, i, -shifts)
    order = np.argsort(fwd, kind="stable")
    pos = np.searchsorted(fwd[order], bwd)
    pos = np.minimum(pos, len(fwd) - 1)
    rev = order[pos]
    if not np.array_equal(fwd[rev], bwd):
        raise ValueError("edge list is not closed under reversal (j, i, -R)")
    return rev.astype(np.int64)


def _edge_keys(i: np.ndarray, j: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Unique int64 key per ``(i, j, R)``: mixed-radix encoding."""
    n = int(max(i.max(), j.max())) + 1
    smax = int(np.abs(shifts).max()) if shifts.size else 0
    base = 2 * smax + 1
    s = shifts + smax
    return (((i.astype(np.int64) * n + j) * base + s[:, 0]) * base + s[:, 1]) * base + s[:, 2]


def _canonical_order(i, j, S, pair_type):
    """Sort edges by (element pair, i, j, R): independent of ASE's internal ordering, and each
    element pair is one contiguous range (the model's per-pair heads then work on slices)."""
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i, pair_type))
    return i[order], j[order], S[order]
