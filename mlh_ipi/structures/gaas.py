"""Zincblende GaAs supercells and the five neutral native point defects.

Lattice constant: ``A_GAAS_PBE = 5.75`` Angstrom, the PBE equilibrium value (PBE
overestimates the experimental 5.653 Angstrom by about 1.7 %); pass ``a=`` for
another functional or for experiment. Using the functional's own lattice constant
keeps DFT labels free of a spurious homogeneous strain.

Supercells (conventional cube edge ``a``, Ga at (0,0,0), As at (1/4,1/4,1/4) a):

====  =========================================  ==================================
atoms cell                                        nearest defect-image distance
====  =========================================  ==================================
64    2x2x2 conventional cubes (simple cubic)     2a = 11.5 Angstrom
128   4x4x4 primitive fcc cells (fcc-shaped)      2*sqrt(2)a = 16.3 Angstrom
216   3x3x3 conventional cubes (simple cubic)     3a = 17.3 Angstrom
====  =========================================  ==================================

The 128-atom cell is the fcc-shaped 4x4x4 primitive supercell rather than a
2x2x4 tetragonal stack: it is the most isotropic 128-atom cell, and its image
distance (16.3 Angstrom) beats the tetragonal cell's 11.5 Angstrom.

Defects (``kind``), all charge-neutral:

``pristine``  the perfect supercell
``V_Ga``      one Ga removed                    (N-1 atoms)
``V_As``      one As removed                    (N-1 atoms)
``As_Ga``     one Ga replaced by As (antisite)  (N atoms)
``Ga_i``      Ga at the tetrahedral site T_As   (N+1 atoms)
``As_i``      As at the tetrahedral site T_Ga   (N+1 atoms)

The two tetrahedral interstitial sites of zincblende both have four nearest
neighbours at sqrt(3)/4 a = 2.49 Angstrom and six next ones at a/2 = 2.875 Angstrom:
T_As is surrounded by four As (at (1/2,1/2,1/2) a, i.e. a Ga site + a(1/2,1/2,1/2)),
T_Ga by four Ga (at (3/4,3/4,3/4) a, an As site + a(1/2,1/2,1/2)). Each interstitial
is put where its four nearest neighbours are the opposite species (cation among
anions, anion among cations); ``tsite="Ga"|"As"`` overrides that choice.

Without ``site`` the defect is placed at the candidate site nearest the cell centre.
``atoms.info`` records ``defect`` (kind), ``defect_host_index`` (index of the removed
or substituted host atom, -1 if none), ``defect_index`` (index of the added or
substituted atom in the defect cell, -1 if none), ``defect_position`` (Cartesian,
Angstrom; not for pristine), ``defect_tsite`` (interstitials: ``"T_As"``/``"T_Ga"``),
``lattice_constant`` (Angstrom) and ``n_host_atoms``.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.geometry import find_mic

A_GAAS_PBE = 5.75  # Angstrom, PBE; experiment 5.653
SIZES = (64, 128, 216)
DEFECTS = ("pristine", "V_Ga", "V_As", "Ga_i", "As_i", "As_Ga")
_DEFAULT_TSITE = {"Ga_i": "As", "As_i": "Ga"}  # surrounded by the other species
FIRST_SHELL_A = 2.7  # Angstrom: bonds are 2.49 at a = 5.75; next shells 2.875 (interstitial), 4.07 (site)

# Electrons a neutral defect puts above the host valence-band maximum in the 64/65-atom Gamma-point
# cells of the GaAs study (GTH-SZV, PBE, Ga 3d in the core), read off all its DFT labels
# (BENCHMARKS.md, "Host band edges by count"): As_i's s state lies in the valence band and its three
# p electrons above it (two fill the host CBM state, its p levels being resonant in the conduction
# band); the antisite's extra pair fills an A1 state resonant in the valence band. Kinds not listed
# have not been checked: their edges come from occupation.
ELECTRONS_ABOVE_VBM = {"pristine": 0, "As_Ga": 0, "As_i": 3}


def gaas_supercell(n_atoms: int = 64, a: float = A_GAAS_PBE) -> Atoms:
    """Perfect zincblende GaAs supercell of 64, 128 or 216 atoms (``a`` in Angstrom)."""
    if n_atoms not in SIZES:
        raise ValueError(f"n_atoms must be one of {SIZES}, got {n_atoms!r}")
    if not (np.isfinite(a) and a > 0):
        raise ValueError(f"lattice constant must be a positive number of Angstrom, got {a!r}")
    if n_atoms == 128:
        atoms = bulk("GaAs", "zincblende", a=a).repeat((4, 4, 4))
    else:
        n = {64: 2, 216: 3}[n_atoms]
        atoms = bulk("GaAs", "zincblende", a=a, cubic=True).repeat((n, n, n))
    atoms.wrap()
    atoms.info.update({"defect": "pristine", "lattice_constant": float(a),
                       "n_host_atoms": len(atoms)})
    return atoms


def tetrahedral_sites(atoms: Atoms, surrounded_by: str, a: float) -> np.ndarray:
    """Cartesian positions (Angstrom) of the tetrahedral interstitial sites T_X.

    ``surrounded_by="As"`` gives T_As (four As nearest neighbours), one per Ga atom
    of the perfect host at Ga + a(1/2,1/2,1/2); ``"Ga"`` gives T_Ga, one per As.
    Site k belongs to the k-th atom of the opposite species, in host order.
    """
    other = {"As": "Ga", "Ga": "As"}.get(surrounded_by)
    if other is None:
        raise ValueError(f"surrounded_by must be 'Ga' or 'As', got {surrounded_by!r}")
    symbols = np.array(atoms.get_chemical_symbols())
    sites = atoms.positions[symbols == other] + 0.5 * a * np.ones(3)
    frac = atoms.cell.scaled_positions(sites) % 1.0
    return atoms.cell.cartesian_positions(frac)


def _nearest_to_centre(atoms: Atoms, positions: np.ndarray) -> int:
    centre = atoms.cell.cartesian_positions(np.full(3, 0.5))
    _, dist = find_mic(positions - centre, atoms.cell, pbc=True)
    return int(np.argmin(dist))


def _host_site(atoms: Atoms, species: str, site: int | None) -> int:
    symbols = np.array(atoms.get_chemical_symbols())
    candidates = np.flatnonzero(symbols == species)
    if site is None:
        return int(candidates[_nearest_to_centre(atoms, atoms.positions[candidates])])
    if isinstance(site, bool) or not isinstance(site, (int, np.integer)):
        raise ValueError(f"site must be an integer index, got {site!r}")
    if not 0 <= site < len(atoms):
        raise ValueError(f"site {site} out of range for a cell of {len(atoms)} atoms")
    if symbols[site] != species:
        raise ValueError(f"site {site} is {symbols[site]}, this defect needs a {species} site")
    return int(site)


def gaas_defect(kind: str, n_atoms: int = 64, a: float = A_GAAS_PBE, site: int | None = None,
                tsite: str | None = None) -> Atoms:
    """GaAs supercell (``n_atoms`` of the perfect host) containing one defect ``kind``.

    ``kind`` is one of :data:`DEFECTS`. ``site``: for vacancies and the antisite the
    host index of the atom to remove/replace (must be of the right species); for
    interstitials the index into :func:`tetrahedral_sites`. Default: the candidate
    nearest the cell centre. ``tsite`` (``"Ga"``/``"As"``) picks the tetrahedral site
    type of an interstitial (default T_As for Ga_i, T_Ga for As_i).
    """
    if kind not in DEFECTS:
        raise ValueError(f"unknown GaAs defect {kind!r}; choose from {DEFECTS}")
    if tsite is not None and kind not in _DEFAULT_TSITE:
        raise ValueError(f"tsite applies to interstitials only, not {kind}")
    host = gaas_supercell(n_atoms, a)
    atoms = host.copy()
    info = {"defect": kind, "defect_host_index": -1, "defect_index": -1}
    if kind == "pristine":
        if site is not None:
            raise ValueError("pristine takes no site")
    elif kind in ("V_Ga", "V_As"):
        k = _host_site(host, kind[2:], site)
        info.update(defect_host_index=k, defect_position=[float(x) for x in host.positions[k]])
        del atoms[k]
    elif kind == "As_Ga":
        k = _host_site(host, "Ga", site)
        atoms[k].symbol = "As"
        info.update(defect_host_index=k, defect_index=k,
                    defect_position=[float(x) for x in host.positions[k]])
    else:  # interstitial
        surrounded_by = tsite or _DEFAULT_TSITE[kind]
        sites = tetrahedral_sites(host, surrounded_by, a)
        if site is None:
            j = _nearest_to_centre(host, sites)
        else:
            if isinstance(site, bool) or not isinstance(site, (int, np.integer)) \
                    or not 0 <= site < len(sites):
                raise ValueError(f"interstitial site must be an index in 0..{len(sites) - 1}, "
                                 f"got {site!r}")
            j = int(site)
        atoms += Atoms(kind.split("_")[0], positions=[sites[j]])
        info.update(defect_index=len(atoms) - 1, defect_tsite=f"T_{surrounded_by}",
                    defect_position=[float(x) for x in sites[j]])
    atoms.info.update(info)
    return atoms


def defect_kind(atoms: Atoms) -> str:
    """Which of :data:`DEFECTS` a cell of ``gaas_defect`` holds, read from its composition alone
    (counts of Ga and As against the host's N/2 each; the host size is the supercell size in
    :data:`SIZES` nearest the atom count). For frames that lost their ``info`` (e.g. DFT-labelled
    snapshots written without it). ``ValueError`` for any other composition."""
    symbols = atoms.get_chemical_symbols()
    n_ga, n_as = symbols.count("Ga"), symbols.count("As")
    if n_ga + n_as != len(symbols):
        raise ValueError(f"not a GaAs cell: {atoms.get_chemical_formula()}")
    half = min(SIZES, key=lambda n: abs(n - len(symbols))) // 2
    kinds = {(half, half): "pristine", (half - 1, half): "V_Ga", (half, half - 1): "V_As",
             (half + 1, half): "Ga_i", (half, half + 1): "As_i", (half - 1, half + 1): "As_Ga"}
    try:
        return kinds[(n_ga, n_as)]
    except KeyError:
        raise ValueError(f"{atoms.get_chemical_formula()} is not a single native defect of a "
                         f"{2 * half}-atom GaAs cell") from None


__all__ = ["A_GAAS_PBE", "DEFECTS", "SIZES", "defect_kind", "gaas_defect", "gaas_supercell",
           "tetrahedral_sites"]


def defect_neighbourhood(atoms: Atoms, first_shell_a: float = FIRST_SHELL_A) -> list[int]:
    """Indices of the defect's atoms in a ``gaas_defect`` cell (or an MD frame of one, same atom
    order): the added or substituted atom and every atom within ``first_shell_a`` (Angstrom) of
    ``info["defect_position"]``; for a vacancy, the empty site's neighbours. ``[]`` for pristine.
    The localisation weight of :func:`mlh_ipi.electronic.defect_levels.find_defect_levels`."""
    kind = atoms.info["defect"]
    if kind == "pristine":
        return []
    centre = np.asarray(atoms.info["defect_position"], dtype=float)
    d = np.linalg.norm(find_mic(atoms.positions - centre, atoms.cell, pbc=True)[0], axis=1)
    idx = set(np.flatnonzero(d < first_shell_a).tolist())
    if atoms.info.get("defect_index", -1) >= 0:
        idx.add(int(atoms.info["defect_index"]))
    return sorted(idx)


def host_valence_states(kind: str, nelectron: int) -> int | None:
    """Number of eigenstates below the host gap (valence band plus defect states resonant in it)
    of a neutral ``kind`` cell with ``nelectron`` valence electrons, from
    :data:`ELECTRONS_ABOVE_VBM`; ``None`` for kinds not checked (edges from occupation)."""
    if kind not in DEFECTS:
        raise ValueError(f"unknown GaAs defect {kind!r}; known: {', '.join(DEFECTS)}")
    extra = ELECTRONS_ABOVE_VBM.get(kind)
    if extra is None:
        return None
    if (nelectron - extra) % 2:
        raise ValueError(f"{kind}: {nelectron} electrons minus {extra} above the VBM is odd")
    return (nelectron - extra) // 2


def level_picking(kind: str, symbols, nelectron: int, resonance_ev: float = 1.0) -> dict:
    """``find_defect_levels`` options for a ``kind`` cell (or MD frame) whose atoms are in the order
    of ``gaas_defect(kind, N)`` (N: the supercell size in :data:`SIZES` nearest the atom count):
    the builder's :func:`defect_neighbourhood` (None for pristine), :func:`host_valence_states` and
    ``resonance_ev`` (eV). ``ValueError`` when the atoms are not in the builder's order."""
    n_host = min(SIZES, key=lambda n: abs(n - len(symbols)))
    ref = gaas_defect(kind, n_host)
    if ref.get_chemical_symbols() != list(symbols):
        raise ValueError(f"{kind} cell of {len(symbols)} atoms: not in the atom order of gaas_defect({kind!r}, {n_host})")
    return {"defect_atoms": defect_neighbourhood(ref) or None,
            "valence_states": host_valence_states(kind, nelectron), "resonance_ev": float(resonance_ev)}
