"""Committee disagreement as a selection score for active learning (eV, eV/Å).

For member forces F_k,i (model k, atom i) the per-atom force deviation is

    sigma_i = sqrt( mean_k |F_k,i - <F_i>|^2 ),   <F_i> = mean_k F_k,i,

the root-mean-square length of the member-to-mean difference vectors (the
"model deviation" of DP-GEN, equal to the square root of the sum of the three
Cartesian population variances mace reports as ``forces_var``). A structure's
score is ``max_i sigma_i`` in eV/Å: a single badly described atom (a defect
core, a close contact) flags the whole cell. The energy deviation is the
population standard deviation of the members' total energies in eV.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms

__all__ = ["Deviation", "atom_force_deviation", "max_force_deviation", "energy_deviation",
           "committee_deviation", "flag_uncertain"]


@dataclass(frozen=True)
class Deviation:
    """Committee spread for one structure.

    max_force_std : max over atoms of the per-atom force deviation, eV/Å.
    mean_force_std : mean over atoms of the same, eV/Å.
    energy_std : standard deviation of the members' total energies, eV.
    energy : committee-mean energy, eV.
    """

    max_force_std: float
    mean_force_std: float
    energy_std: float
    energy: float


def atom_force_deviation(forces_comm: np.ndarray) -> np.ndarray:
    """Per-atom force deviation sigma_i (eV/Å) from member forces of shape (members, atoms, 3)."""
    f = np.asarray(forces_comm, dtype=float)
    if f.ndim != 3 or f.shape[-1] != 3:
        raise ValueError(f"member forces must have shape (members, atoms, 3), got {f.shape}")
    if f.shape[0] < 2:
        raise ValueError("a force deviation needs at least two committee members")
    diff = f - f.mean(axis=0, keepdims=True)
    return np.sqrt((diff**2).sum(axis=-1).mean(axis=0))


def max_force_deviation(forces_comm: np.ndarray) -> float:
    """max_i sigma_i in eV/Å (see the module docstring)."""
    return float(atom_force_deviation(forces_comm).max())


def energy_deviation(energies_comm: Sequence[float]) -> float:
    """Population standard deviation of the members' energies, eV."""
    e = np.asarray(energies_comm, dtype=float)
    if e.ndim != 1 or e.size < 2:
        raise ValueError("an energy deviation needs the energies of at least two members")
    return float(e.std())


def committee_deviation(calc, atoms: Atoms) -> Deviation:
    """Evaluate ``calc`` (a committee from :func:`~mlh_ipi.forcefield.committee.load_mace`) on ``atoms``.

    Reuses the calculator's cached results when ``atoms`` has not changed.
    """
    if getattr(calc, "num_models", 1) < 2:
        raise ValueError("committee deviation needs a committee of at least two MACE models")
    calc.get_property("forces", atoms)
    sigma = atom_force_deviation(calc.results["forces_comm"])
    return Deviation(max_force_std=float(sigma.max()), mean_force_std=float(sigma.mean()),
                     energy_std=energy_deviation(calc.results["energy_comm"]),
                     energy=float(calc.results["energy"]))


def flag_uncertain(scores: Sequence[float], threshold: float, upper: float | None = None,
                   max_count: int | None = None) -> list[int]:
    """Indices of structures to label: ``threshold < score`` (and ``score <= upper`` if given).

    Scores and bounds in eV/Å. Structures above ``upper`` are treated as
    unphysical (the model has left its domain so far that the DFT label would
    be wasted on an exploding trajectory). When more than ``max_count`` are
    flagged, that many are taken evenly spread over the flagged ones in input
    (time) order, so consecutive near-duplicate MD frames are not all chosen.
    """
    s = np.asarray(scores, dtype=float)
    ok = s > threshold
    if upper is not None:
        ok &= s <= upper
    idx = np.flatnonzero(ok)
    if max_count is not None and idx.size > max_count:
        if max_count <= 0:
            return []
        pick = np.unique(np.round(np.linspace(0, idx.size - 1, max_count)).astype(int))
        idx = idx[pick]
    return [int(i) for i in idx]
