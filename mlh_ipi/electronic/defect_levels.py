"""In-gap defect levels picked by localisation, with host-like band edges.

For each state n near the Fermi level, Mulliken weights on atoms

    w_{n,a} = sum_{mu in a} c_{mu n} (S c)_{mu n},     sum_a w_{n,a} = 1,

give two localisation measures:

* the inverse participation ratio ``IPR_n = sum_a w_{n,a}^2`` (1/N for a state
  spread over N atoms, ~1/k for one on k atoms); a state counts as localised
  when its IPR exceeds both ``min_ipr`` and 4/N, so tiny cells have no
  "localised" states at all;
* the weight on the defect's atoms ``W_n = sum_{a in defect} w_{n,a}`` when the
  defect's neighbour atoms are known (vacancy: the dangling-bond atoms;
  substitutional/interstitial: the defect atom and its first shell).

A state is a *defect state* if ``W_n >= min_defect_weight`` (defect atoms given)
or ``IPR_n >= min_ipr`` (not given). The band edges are the highest occupied
and the lowest empty *non-defect* states; defect levels are the defect states
strictly between them, reported in eV and relative to both edges.

Occupation puts the edges in the wrong place for a donor whose levels lie above
the conduction-band minimum (its electrons fill the CBM-like host state, which
the occupation rule then calls the VBM) and for an acceptor below the VBM. When
the number of host valence-band states is known, ``valence_states`` fixes the
edges by counting instead: the VBM is the highest non-defect state below that
index, the CBM the lowest non-defect state at or above it, whatever their
occupation. ``resonance_ev`` > 0 also reports defect states up to that far
below the VBM or above the CBM (flagged in ``DefectLevels.resonant``), so a
level that a small cell or a semilocal gap pushes into a band is still tracked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mlh_ipi.units import HARTREE


def atom_weights(coeffs: np.ndarray, overlap: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Mulliken weights (nstates, natoms) of S-normalised eigenvectors ``coeffs`` (nao, nstates)."""
    sc = overlap @ coeffs
    per_ao = np.real(np.conj(coeffs) * sc)  # (nao, nstates)
    return np.add.reduceat(per_ao, offsets[:-1], axis=0).T


@dataclass(frozen=True)
class DefectLevels:
    """Band edges and in-gap defect levels, all in eV (absolute energies of the Hamiltonian)."""

    vbm_ev: float
    cbm_ev: float
    levels_ev: np.ndarray = field(default_factory=lambda: np.zeros(0))
    occupations: np.ndarray = field(default_factory=lambda: np.zeros(0))
    state_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    localisation: np.ndarray = field(default_factory=lambda: np.zeros(0))
    vbm_index: int = -1      # state index (ascending energies) of the host-like VBM
    cbm_index: int = -1      # and of the CBM
    resonant: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per level: outside the gap

    @property
    def gap_ev(self) -> float:
        """Host-like gap CBM - VBM (defect states excluded)."""
        return self.cbm_ev - self.vbm_ev

    @property
    def above_vbm_ev(self) -> np.ndarray:
        return self.levels_ev - self.vbm_ev

    @property
    def below_cbm_ev(self) -> np.ndarray:
        return self.cbm_ev - self.levels_ev

    def as_dict(self) -> dict:
        return {"vbm_ev": self.vbm_ev, "cbm_ev": self.cbm_ev, "gap_ev": self.gap_ev,
                "levels_ev": self.levels_ev.tolist(), "occupations": self.occupations.tolist(),
                "resonant": [bool(r) for r in self.resonant],
                "levels_above_vbm_ev": self.above_vbm_ev.tolist(),
                "levels_below_cbm_ev": self.below_cbm_ev.tolist()}


def level_picking_from_info(info) -> dict:
    """The :func:`find_defect_levels` options recorded in a structure's or label's ``info``:
    ``defect_atoms`` (or ``defect_si``), ``valence_states`` and ``level_resonance_ev`` (eV)."""
    return {"defect_atoms": info.get("defect_atoms", info.get("defect_si")),
            "valence_states": info.get("valence_states"),
            "resonance_ev": float(info.get("level_resonance_ev", 0.0))}


def edge_rule(valence_states: int | None, resonance_ev: float | None) -> dict:
    """How band edges are taken and which levels outside the gap are kept, in one normal form for
    comparing runs and labels: ``valence_states`` (None: edges by occupation) and
    ``resonance_ev`` in eV (None: no window; 0 and None mean the same)."""
    return {"valence_states": None if valence_states is None else int(valence_states),
            "resonance_ev": float(resonance_ev) if resonance_ev else None}


MIN_DEFECT_WEIGHT = 0.3  # Mulliken weight on the defect's atoms for a state to count as localised


def find_defect_levels(energies_ha: np.ndarray, coeffs: np.ndarray, overlap: np.ndarray,
                       offsets: np.ndarray, nelectron: int,
                       defect_atoms: Sequence[int] | None = None,
                       min_defect_weight: float = MIN_DEFECT_WEIGHT, min_ipr: float = 0.08,
                       window: int = 24, valence_states: int | None = None,
                       resonance_ev: float = 0.0) -> DefectLevels:
    """Classify the ``window`` states on each side of the Fermi level and pick in-gap defect states.

    ``energies_ha`` ascending (Hartree) with S-normalised ``coeffs`` columns, as
    from ``eigen.solve``; closed-shell filling of ``nelectron`` electrons.
    ``valence_states``: number of states below the host gap, i.e. the valence band and any
    defect state resonant in it (edges by count, not by occupation; see the module docstring). ``resonance_ev`` (eV): also report defect
    states this far outside the gap, flagged ``resonant``.
    """
    nocc = nelectron // 2
    split = nocc if valence_states is None else int(valence_states)
    if not 0 < split < len(energies_ha):
        raise ValueError(f"valence_states={valence_states} outside 1..{len(energies_ha) - 1} "
                         f"for {len(energies_ha)} states")
    if abs(split - nocc) >= window:
        raise ValueError(f"valence_states={split} is {abs(split - nocc)} states from the Fermi level "
                         f"(closed-shell filling of {nelectron} electrons: {nocc}); the window is {window}")
    lo, hi = max(0, nocc - window), min(len(energies_ha), nocc + window)
    w = atom_weights(coeffs[:, lo:hi], overlap, offsets)
    if defect_atoms is not None and len(defect_atoms):
        score = w[:, list(defect_atoms)].sum(axis=1)
        is_defect = score >= min_defect_weight
    else:
        score = (w**2).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-12) ** 2
        is_defect = score >= max(min_ipr, 4.0 / len(offsets[:-1]))
    idx = np.arange(lo, hi)
    valence = idx < split
    host_occ = idx[valence & ~is_defect]
    host_emp = idx[~valence & ~is_defect]
    if len(host_occ) == 0 or len(host_emp) == 0:  # everything looked localised: plain HOMO/LUMO
        is_defect = np.zeros_like(is_defect)
        host_occ, host_emp = idx[valence], idx[~valence]
    vbm = energies_ha[host_occ.max()]
    cbm = energies_ha[host_emp.min()]
    e = energies_ha[lo:hi]
    margin = resonance_ev / HARTREE
    picked = is_defect & (e > vbm - margin) & (e < cbm + margin)
    sel = idx[picked]
    return DefectLevels(
        vbm_ev=float(vbm * HARTREE), cbm_ev=float(cbm * HARTREE),
        levels_ev=energies_ha[sel] * HARTREE,
        occupations=np.where(sel < nocc, 2.0, 0.0),
        state_indices=sel,
        localisation=score[picked],
        vbm_index=int(host_occ.max()), cbm_index=int(host_emp.min()),
        resonant=(e[picked] <= vbm) | (e[picked] >= cbm),
    )
