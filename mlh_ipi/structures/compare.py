"""Compare two relaxed geometries of the same cell: ΔQ and coordinate errors around a defect.

Both structures must have the same atoms in the same order and the same cell
(fixed-cell relaxations). Positions in Angstrom, masses in amu.

Displacements ``u_a = R_a(other) - R_a(ref)`` are taken as **minimum-image**
vectors, so an atom that one optimiser wrapped across the periodic boundary
counts with its true (small) displacement. A relaxation can also drift the
whole cell content rigidly (the grid "egg-box" gives a small net force, and a
fixed-cell optimiser does not remove it); that shift carries no physics and is
removed before any error is measured. By default the removed shift is the
**mass-weighted** mean displacement (the centre-of-mass shift), which is the
translation that minimises ``ΔQ`` itself; ``mass_weighted=False`` removes the
plain mean displacement instead (the translation that minimises the sum of
squared Cartesian errors). ``remove_translation=False`` keeps the raw
minimum-image displacements.

* ``delta_q``: ``ΔQ = sqrt(Σ_a m_a |u_a|²)`` in amu^½ Å, the configuration-coordinate
  distance used for one-dimensional configuration-coordinate diagrams.
* ``sphere_mae``: mean absolute error of the Cartesian coordinates (Å, averaged over
  the three components of every atom) of the atoms whose minimum-image distance
  from a centre (the vacancy position, ``atoms.info["defect_position"]``) in the
  reference structure is at most ``r`` (the rigid shift is removed once, using
  all atoms, before the spheres are cut). In a small cell a sphere larger than the
  cell's half-width simply holds every atom (periodic images are not counted twice).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms
from ase.geometry import find_mic, get_distances

SPHERE_RADII_A = (3.0, 5.0, 7.0, 9.0, 12.0)


def _check_same_cell(ref: Atoms, other: Atoms) -> None:
    if len(ref) != len(other):
        raise ValueError(f"different atom counts: {len(ref)} vs {len(other)}")
    if ref.get_chemical_symbols() != other.get_chemical_symbols():
        raise ValueError("different species or atom order")
    if not np.allclose(ref.cell.array, other.cell.array, atol=1e-6):
        raise ValueError("different cells: compare fixed-cell relaxations of the same cell")
    if not (np.isfinite(ref.positions).all() and np.isfinite(other.positions).all()):
        raise ValueError("non-finite positions")


def displacements(ref: Atoms, other: Atoms, remove_translation: bool = True,
                  mass_weighted: bool = True) -> np.ndarray:
    """(N, 3) minimum-image displacements ``other - ref`` in Angstrom, rigid shift removed.

    See the module docstring for which shift ``mass_weighted`` removes.
    """
    _check_same_cell(ref, other)
    u, _ = find_mic(other.positions - ref.positions, ref.cell, ref.pbc)
    if remove_translation:
        w = ref.get_masses() if mass_weighted else np.ones(len(ref))
        u = u - (w[:, None] * u).sum(axis=0) / w.sum()
    return u


def delta_q(ref: Atoms, other: Atoms, remove_translation: bool = True,
            mass_weighted: bool = True) -> float:
    """ΔQ = sqrt(Σ_a m_a |u_a|²) in amu^½ Å (masses from ``ref``)."""
    u = displacements(ref, other, remove_translation, mass_weighted)
    return float(np.sqrt((ref.get_masses() * (u ** 2).sum(axis=1)).sum()))


def distances_from(atoms: Atoms, centre: Sequence[float]) -> np.ndarray:
    """Minimum-image distances (Angstrom) of every atom from the point ``centre``."""
    _, d = get_distances(np.asarray(centre, float).reshape(1, 3), atoms.positions,
                         cell=atoms.cell, pbc=atoms.pbc)
    return d[0]


def sphere_mae(ref: Atoms, other: Atoms, centre: Sequence[float] | None = None,
               radii: Sequence[float] = SPHERE_RADII_A, remove_translation: bool = True,
               mass_weighted: bool = True) -> dict[float, tuple[float, int]]:
    """``{r: (coordinate MAE in Angstrom, atoms inside)}`` for spheres of radius ``r`` (Angstrom).

    ``centre`` defaults to ``ref.info["defect_position"]``. Membership uses the
    reference structure's minimum-image distances. An empty sphere gives ``nan``.
    """
    if centre is None:
        if "defect_position" not in ref.info:
            raise ValueError("no centre given and no info['defect_position'] in the reference")
        centre = ref.info["defect_position"]
    u = np.abs(displacements(ref, other, remove_translation, mass_weighted))
    d = distances_from(ref, centre)
    out = {}
    for r in radii:
        inside = d <= r
        n = int(inside.sum())
        out[float(r)] = (float(u[inside].mean()) if n else float("nan"), n)
    return out


__all__ = ["SPHERE_RADII_A", "delta_q", "displacements", "distances_from", "sphere_mae"]
