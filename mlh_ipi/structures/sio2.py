"""Oxygen vacancies (V_O) in SiO2 cells.

A neutral V_O removes one O from a Si-O-Si bridge; the two Si that shared it are
the defect's dangling-bond pair (they relax into a Si-Si bond of about 2.5
Angstrom in the neutral state). Positions in Angstrom.

The record of what was removed is returned as a dict and also stored in
``atoms.info`` of the defect cell, with JSON/extxyz-friendly values:

``defect``                 ``"V_O"``
``defect_host_index``      index of the removed O in the host
``defect_position``        its Cartesian position [x, y, z] (Angstrom)
``defect_si_host``         indices of its Si neighbours in the host (nearest first)
``defect_si``              the same Si, indexed in the defect cell
``defect_si_o_distances``  their distances to the removed O (Angstrom)
``defect_si_si_distance``  Si-Si distance across the vacancy in the host (Angstrom;
                           only when the O had two Si neighbours)
"""
from __future__ import annotations

import logging

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from mlh_ipi.structures.analysis import SI_O_BOND_CUTOFF

log = logging.getLogger(__name__)


def si_neighbours_of(atoms: Atoms, index: int, cutoff: float = SI_O_BOND_CUTOFF):
    """Si atoms within ``cutoff`` (Angstrom) of atom ``index``: (indices, distances, vectors).

    Sorted by distance; vectors point from ``index`` to the (nearest image of the) Si.
    """
    i, j, d, vec = neighbor_list("ijdD", atoms, float(cutoff))
    symbols = np.array(atoms.get_chemical_symbols())
    keep = (i == index) & (symbols[j] == "Si")
    order = np.argsort(d[keep], kind="stable")
    return j[keep][order], d[keep][order], vec[keep][order]


def bridging_oxygens(atoms: Atoms, cutoff: float = SI_O_BOND_CUTOFF) -> np.ndarray:
    """Indices of O atoms with exactly two Si within ``cutoff`` (Angstrom)."""
    i, j = neighbor_list("ij", atoms, float(cutoff))
    symbols = np.array(atoms.get_chemical_symbols())
    counts = np.bincount(i[(symbols[i] == "O") & (symbols[j] == "Si")], minlength=len(atoms))
    return np.flatnonzero((symbols == "O") & (counts == 2))


def make_oxygen_vacancy(atoms: Atoms, site: int | None = None,
                        seed: int | np.random.Generator | None = None,
                        cutoff: float = SI_O_BOND_CUTOFF) -> tuple[Atoms, dict]:
    """Remove one O from ``atoms``; return ``(defect_atoms, info)``.

    ``site`` is the index of the O to remove (``0 <= site < len(atoms)``). Without it
    a random bridging O (two Si within ``cutoff``) is drawn with ``seed`` (an int or a
    ``numpy.random.Generator``; same seed, same site). ``info`` (see module doc) is
    also merged into ``defect_atoms.info``; the host's own info is kept as well.
    Raises ``ValueError`` if ``site`` is out of range or not an O, or if there is no O.
    """
    if not np.isfinite(atoms.positions).all():
        raise ValueError("host positions contain NaN or inf")
    symbols = np.array(atoms.get_chemical_symbols())
    if not (symbols == "O").any():
        raise ValueError(f"no O atoms in {atoms.get_chemical_formula()}")
    if site is None:
        candidates = bridging_oxygens(atoms, cutoff)
        if len(candidates) == 0:
            log.warning("no bridging O in the host; drawing from all O")
            candidates = np.flatnonzero(symbols == "O")
        site = int(np.random.default_rng(seed).choice(candidates))
    else:
        if isinstance(site, bool) or not isinstance(site, (int, np.integer)):
            raise ValueError(f"site must be an integer index, got {site!r}")
        site = int(site)
        if not 0 <= site < len(atoms):
            raise ValueError(f"site {site} out of range for a cell of {len(atoms)} atoms")
        if symbols[site] != "O":
            raise ValueError(f"site {site} is {symbols[site]}, not O")

    si_host, d_si, vec = si_neighbours_of(atoms, site, cutoff)
    if len(si_host) != 2:
        log.warning("O %d has %d Si within %.2f A, not two", site, len(si_host), cutoff)

    defect = atoms.copy()
    del defect[site]
    si_defect = [int(k - 1) if k > site else int(k) for k in si_host]
    info = {
        "defect": "V_O",
        "defect_host_index": site,
        "defect_position": [float(x) for x in atoms.positions[site]],
        "defect_si_host": [int(k) for k in si_host],
        "defect_si": si_defect,
        "defect_si_o_distances": [float(x) for x in d_si],
    }
    if len(si_host) >= 2:
        info["defect_si_si_distance"] = float(np.linalg.norm(vec[1] - vec[0]))
    defect.info.update(info)
    return defect, info


__all__ = ["bridging_oxygens", "make_oxygen_vacancy", "si_neighbours_of"]
