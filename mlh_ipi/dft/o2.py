"""Oxygen chemical potential reference: spin-polarised triplet O2 in a box, same DFT settings.

``o2_reference`` scans the O-O bond length, fits a parabola through the lowest
points and returns E(O2) at the minimum (eV) with the bond length (Angstrom).
Only energies are used, so it works with any settings the backend supports.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from ase import Atoms

from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class O2Reference:
    energy_ev: float          # total energy of the O2 molecule at the fitted bond length
    bond_length_a: float
    box_a: float
    scan: tuple[tuple[float, float], ...]  # (d in A, E in eV)

    @property
    def mu_o_ev(self) -> float:
        """O chemical potential in the O-rich limit: E(O2)/2."""
        return 0.5 * self.energy_ev

    def to_dict(self) -> dict:
        return {"energy_ev": self.energy_ev, "bond_length_a": self.bond_length_a,
                "box_a": self.box_a, "scan": [list(p) for p in self.scan]}

    @classmethod
    def from_dict(cls, d: dict) -> "O2Reference":
        return cls(d["energy_ev"], d["bond_length_a"], d["box_a"], tuple(tuple(p) for p in d["scan"]))


def o2_molecule(d_a: float, box_a: float) -> Atoms:
    """O2 along x, centred in a cubic box of side ``box_a`` (Angstrom)."""
    c = box_a / 2
    return Atoms("O2", positions=[[c - d_a / 2, c, c], [c + d_a / 2, c, c]],
                 cell=[box_a] * 3, pbc=True)


def o2_reference(settings: DFTSettings, box_a: float = 9.0,
                 bond_lengths_a=(1.20, 1.25, 1.30, 1.35), max_extensions: int = 4) -> O2Reference:
    """E(O2, triplet) at the bottom of a bond-length scan, with ``settings`` but spin = 2.

    The scan is extended in steps of its own spacing until the lowest point is
    bracketed (a minimal basis can stretch O2 well beyond 1.21 A); a parabola
    through the lowest point and its two neighbours gives the minimum.
    """
    s = settings.with_(spin=2, smearing=None)
    scan: dict[float, float] = {}

    def energy(d: float) -> float:
        if d not in scan:
            scan[d] = run_scf(o2_molecule(d, box_a), s).energy_ev
            log.info("O2 d=%.3f A: E=%.6f eV", d, scan[d])
        return scan[d]

    ds = sorted(float(d) for d in bond_lengths_a)
    step = ds[1] - ds[0]
    for d in ds:
        energy(d)
    for _ in range(max_extensions + 1):
        grid = sorted(scan)
        k = int(np.argmin([scan[d] for d in grid]))
        if 0 < k < len(grid) - 1:
            break
        energy(round(grid[0] - step, 6) if k == 0 else round(grid[-1] + step, 6))
    else:
        raise RuntimeError(f"O2 scan found no minimum: {sorted(scan.items())}")
    grid = sorted(scan)
    k = int(np.argmin([scan[d] for d in grid]))
    x = np.array(grid[k - 1:k + 2])
    c2, c1, c0 = np.polyfit(x, [scan[d] for d in x], 2)
    d0 = -c1 / (2 * c2)
    return O2Reference(float(np.polyval([c2, c1, c0], d0)), float(d0), box_a,
                       tuple((d, scan[d]) for d in grid))
