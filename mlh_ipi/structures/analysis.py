"""Short-range structure of network glasses: coordination, partial RDFs, bond angles.

Pure numpy + ASE (``ase.neighborlist``); periodic cells of any shape (triclinic
included) and cutoffs longer than half the cell are handled by the neighbour list.
Distances in Angstrom, angles in degrees, densities in g/cm^3.

``SI_O_BOND_CUTOFF = 2.0`` Angstrom counts Si-O bonds. The Si-O bond in a-SiO2 is
1.61 Angstrom and g_SiO(r) is zero between about 1.8 and 3.0 Angstrom (the next O
around a Si sits at >= 3 Angstrom), so any cutoff in 1.9-2.3 Angstrom gives the same
counts for relaxed structures; 2.0 is also what the melt-quench script checks.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

SI_O_BOND_CUTOFF = 2.0  # Angstrom
AMU_PER_A3_IN_G_PER_CM3 = 1.66053906660  # 1 amu/Angstrom^3 in g/cm^3


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density in g/cm^3 (ASE atomic masses, cell volume in Angstrom^3)."""
    return float(atoms.get_masses().sum() / atoms.get_volume() * AMU_PER_A3_IN_G_PER_CM3)


def _species_mask(atoms: Atoms, symbol: str) -> np.ndarray:
    mask = np.array(atoms.get_chemical_symbols()) == symbol
    if not mask.any():
        raise ValueError(f"no {symbol} atoms in {atoms.get_chemical_formula()}")
    return mask


def pair_distances(atoms: Atoms, center: str, neighbor: str, cutoff: float):
    """All (i, j, d) with i a ``center`` atom, j a ``neighbor`` atom, d < cutoff (Angstrom).

    Each unordered pair of different species appears once per direction asked; for
    ``center == neighbor`` every pair appears twice (i->j and j->i). Periodic images
    count as separate neighbours.
    """
    if not np.isfinite(atoms.positions).all():
        raise ValueError("atomic positions contain NaN or inf")
    i, j, d = neighbor_list("ijd", atoms, float(cutoff))
    ci, cj = _species_mask(atoms, center), _species_mask(atoms, neighbor)
    keep = ci[i] & cj[j]
    return i[keep], j[keep], d[keep]


def coordination_numbers(atoms: Atoms, center: str, neighbor: str,
                         cutoff: float = SI_O_BOND_CUTOFF) -> np.ndarray:
    """Number of ``neighbor`` atoms within ``cutoff`` (Angstrom) of each ``center`` atom.

    Returned in the order of ``np.flatnonzero(symbols == center)``.
    """
    i, _, _ = pair_distances(atoms, center, neighbor, cutoff)
    counts = np.bincount(i, minlength=len(atoms))
    return counts[_species_mask(atoms, center)]


def coordination_histogram(atoms: Atoms, center: str, neighbor: str,
                           cutoff: float = SI_O_BOND_CUTOFF) -> dict[int, int]:
    """``{coordination number: how many center atoms}``, sorted by coordination."""
    cn = coordination_numbers(atoms, center, neighbor, cutoff)
    return {int(k): int(v) for k, v in sorted(Counter(cn.tolist()).items())}


def fraction_fourfold_si(atoms: Atoms, cutoff: float = SI_O_BOND_CUTOFF) -> float:
    """Fraction of Si atoms with exactly four O within ``cutoff`` (Angstrom)."""
    return float(np.mean(coordination_numbers(atoms, "Si", "O", cutoff) == 4))


def partial_rdf(atoms: Atoms, a: str, b: str, r_max: float = 6.0, dr: float = 0.02,
                sigma: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Partial radial distribution function g_ab(r) of a periodic cell.

    ``g_ab(r) = n_ab(r) / (N_a * rho_b * 4 pi r^2 dr)`` with ``n_ab(r)`` the number
    of (a, b) pairs at distance r, counted from every a atom, and ``rho_b`` the number
    density of b (``(N_b - 1)/V`` when a == b). ``r_max`` and ``dr`` in Angstrom.
    With ``sigma`` (Angstrom) the pair histogram is convolved with a normalised
    Gaussian of that width, which gives a smooth curve for small cells.
    Returns bin centres r and g(r), both of length ``round(r_max/dr)``.
    """
    if r_max <= 0 or dr <= 0:
        raise ValueError("r_max and dr must be positive (Angstrom)")
    n_bins = int(round(r_max / dr))
    edges = np.arange(n_bins + 1) * dr
    r = 0.5 * (edges[1:] + edges[:-1])
    n_pad = 0 if sigma is None else int(np.ceil(4.0 * sigma / dr))
    _, _, d = pair_distances(atoms, a, b, (n_bins + n_pad) * dr)
    counts, _ = np.histogram(d, bins=np.arange(n_bins + n_pad + 1) * dr)
    counts = counts.astype(float)
    if sigma is not None and sigma > 0:
        offsets = np.arange(-n_pad, n_pad + 1) * dr
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        counts = np.convolve(counts, kernel / kernel.sum(), mode="full")[n_pad:n_pad + n_bins + n_pad]
    counts = counts[:n_bins]
    n_a = int(_species_mask(atoms, a).sum())
    n_b = int(_species_mask(atoms, b).sum()) - (1 if a == b else 0)
    rho_b = n_b / atoms.get_volume()
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g = counts / (n_a * rho_b * shell) if n_b > 0 else np.zeros_like(r)
    return r, g


def first_peak(r: np.ndarray, g: np.ndarray) -> float:
    """Position (Angstrom) of the first peak of g(r).

    The first peak is the highest point of the first run of bins with g > 1,
    refined by a parabola through that bin and its two neighbours. NaN when g
    never exceeds 1.
    """
    r, g = np.asarray(r, float), np.asarray(g, float)
    above = np.flatnonzero(g > 1.0)
    if above.size == 0:
        return float("nan")
    start = above[0]
    stop = start
    while stop + 1 < len(g) and g[stop + 1] > 1.0:
        stop += 1
    k = start + int(np.argmax(g[start:stop + 1]))
    if 0 < k < len(g) - 1:
        y0, y1, y2 = g[k - 1], g[k], g[k + 1]
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            shift = 0.5 * (y0 - y2) / den
            return float(r[k] + np.clip(shift, -1.0, 1.0) * (r[k + 1] - r[k]))
    return float(r[k])


def bond_angles(atoms: Atoms, center: str, neighbor: str,
                cutoff: float = SI_O_BOND_CUTOFF) -> np.ndarray:
    """Angles neighbor-center-neighbor (degrees) over all bonded pairs around each center.

    ``bond_angles(a, "Si", "O")`` gives O-Si-O angles (109.47 for a perfect
    tetrahedron); ``bond_angles(a, "O", "Si")`` gives Si-O-Si angles.
    """
    if not np.isfinite(atoms.positions).all():
        raise ValueError("atomic positions contain NaN or inf")
    i, j, vec = neighbor_list("ijD", atoms, float(cutoff))
    ci, cj = _species_mask(atoms, center), _species_mask(atoms, neighbor)
    keep = ci[i] & cj[j]
    i, vec = i[keep], vec[keep]
    out = []
    order = np.argsort(i, kind="stable")
    i, vec = i[order], vec[order]
    bounds = np.flatnonzero(np.diff(i)) + 1
    for group in np.split(vec, bounds):
        if len(group) < 2:
            continue
        unit = group / np.linalg.norm(group, axis=1, keepdims=True)
        cos = np.clip(unit @ unit.T, -1.0, 1.0)
        iu = np.triu_indices(len(group), k=1)
        out.append(np.degrees(np.arccos(cos[iu])))
    return np.concatenate(out) if out else np.zeros(0)


def equivalent_environment_fraction(atoms: Atoms, symbol: str = "Si", r_max: float = 6.0,
                                    tol: float = 0.025) -> float:
    """Fraction of ``symbol`` atoms whose environment repeats elsewhere in the cell.

    The environment of an atom is its sorted list of distances to all atoms within
    ``r_max`` (Angstrom); two atoms are equivalent when the r.m.s. difference of
    these lists is below ``tol`` (Angstrom). In a glass no two atoms are equivalent
    (fraction 0; relaxed a-SiO2 cells give >= 0.05 Angstrom); in a crystal, or any
    cell with a space-group symmetry, they are (<= 0.001 Angstrom once relaxed, about
    0.02 Angstrom after a 0.02 Angstrom rattle). A small amorphous cell that orders
    into a crystal-like structure during a slow quench is caught here.
    """
    if not np.isfinite(atoms.positions).all():
        raise ValueError("atomic positions contain NaN or inf")
    centres = np.flatnonzero(_species_mask(atoms, symbol))
    if len(centres) < 2:
        return 0.0
    i, d = neighbor_list("id", atoms, float(r_max))
    fingerprints = [np.sort(d[i == k]) for k in centres]
    n = min(len(f) for f in fingerprints)
    if n == 0:
        return 0.0
    fp = np.array([f[:n] for f in fingerprints])
    rms = np.sqrt(np.mean((fp[:, None, :] - fp[None, :, :]) ** 2, axis=2))
    np.fill_diagonal(rms, np.inf)
    return float(np.mean(rms.min(axis=1) < tol))


def _stats(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"),
                "max": float("nan"), "count": 0}
    return {"mean": float(np.mean(x)), "std": float(np.std(x)), "min": float(np.min(x)),
            "max": float(np.max(x)), "count": int(len(x))}


def sio2_report(atoms: Atoms, cutoff: float = SI_O_BOND_CUTOFF, r_max: float = 6.0,
                dr: float = 0.01, sigma: float = 0.05) -> dict:
    """Summary of an (a-)SiO2 cell, all values JSON-serialisable.

    Keys: ``n_atoms``, ``formula``, ``density_g_cm3``, ``cutoff_si_o`` (Angstrom),
    ``si_coordination`` / ``o_coordination`` (``{"4": n, ...}``),
    ``fraction_si_fourfold``, ``fraction_o_twofold``, ``si_o_bond`` (Angstrom stats),
    ``first_peak_si_o``/``_o_o``/``_si_si`` (Angstrom, from g(r) smoothed with a
    Gaussian of width ``sigma``; 0.05 Angstrom keeps single stray pairs of a
    48-atom cell from posing as the first peak and moves the Si-O peak by
    < 0.005 Angstrom), ``angle_o_si_o``/``angle_si_o_si`` (degree stats),
    ``equivalent_si_fraction`` (0 for a glass, see
    :func:`equivalent_environment_fraction`).
    """
    _, _, d_sio = pair_distances(atoms, "Si", "O", cutoff)
    peaks = {}
    for a, b in (("Si", "O"), ("O", "O"), ("Si", "Si")):
        r, g = partial_rdf(atoms, a, b, r_max=r_max, dr=dr, sigma=sigma)
        peaks[f"first_peak_{a.lower()}_{b.lower()}"] = first_peak(r, g)
    si_cn = coordination_histogram(atoms, "Si", "O", cutoff)
    o_cn = coordination_histogram(atoms, "O", "Si", cutoff)
    n_si, n_o = sum(si_cn.values()), sum(o_cn.values())
    return {
        "n_atoms": len(atoms),
        "formula": atoms.get_chemical_formula(),
        "density_g_cm3": density_g_cm3(atoms),
        "cutoff_si_o": float(cutoff),
        "si_coordination": {str(k): v for k, v in si_cn.items()},
        "o_coordination": {str(k): v for k, v in o_cn.items()},
        "fraction_si_fourfold": si_cn.get(4, 0) / n_si,
        "fraction_o_twofold": o_cn.get(2, 0) / n_o,
        "si_o_bond": _stats(d_sio),
        **peaks,
        "angle_o_si_o": _stats(bond_angles(atoms, "Si", "O", cutoff)),
        "angle_si_o_si": _stats(bond_angles(atoms, "O", "Si", cutoff)),
        "equivalent_si_fraction": equivalent_environment_fraction(atoms, "Si"),
    }


def format_sio2_report(report: dict) -> str:
    """Human-readable lines for :func:`sio2_report` output."""
    def cn(h):
        return ", ".join(f"{k}:{v}" for k, v in h.items())

    b, oso, sos = report["si_o_bond"], report["angle_o_si_o"], report["angle_si_o_si"]
    return "\n".join([
        f"{report['formula']}  {report['n_atoms']} atoms  density {report['density_g_cm3']:.4f} g/cm^3",
        f"Si coordination (O within {report['cutoff_si_o']:.2f} A): {cn(report['si_coordination'])}"
        f"  -> four-fold {100 * report['fraction_si_fourfold']:.1f} %",
        f"O coordination (Si): {cn(report['o_coordination'])}"
        f"  -> two-fold {100 * report['fraction_o_twofold']:.1f} %",
        f"Si-O bond {b['mean']:.4f} +- {b['std']:.4f} A (min {b['min']:.3f}, max {b['max']:.3f})",
        f"first RDF peaks: Si-O {report['first_peak_si_o']:.3f} A, O-O {report['first_peak_o_o']:.3f} A,"
        f" Si-Si {report['first_peak_si_si']:.3f} A",
        f"O-Si-O {oso['mean']:.1f} +- {oso['std']:.1f} deg, "
        f"Si-O-Si {sos['mean']:.1f} +- {sos['std']:.1f} deg",
        f"Si with a symmetry-equivalent twin: {100 * report['equivalent_si_fraction']:.0f} %"
        " (0 for a glass)",
    ])


__all__ = [
    "SI_O_BOND_CUTOFF", "bond_angles", "coordination_histogram", "coordination_numbers",
    "density_g_cm3", "equivalent_environment_fraction", "first_peak", "format_sio2_report",
    "fraction_fourfold_si",
    "pair_distances", "partial_rdf", "sio2_report",
]
