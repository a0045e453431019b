"""The Harris baseline H_0 = h_core + V_Hxc[D_atoms] and its geometry derivative.

A model can learn ΔH = H_DFT − H_0 instead of H_DFT (``ModelConfig.baseline =
"harris"``). H_0 is the Kohn-Sham matrix of the superposition of neutral-atom
densities: PySCF's ``minao`` initial guess D_atoms, a block-diagonal AO matrix
that depends only on the species and moves with the atoms, and one potential
build at the DFT backend's own settings. It carries the kinetic energy, the
pseudopotentials and the Hartree-xc potential of the atoms exactly; what is left
to learn is charge transfer and bonding (BENCHMARKS.md §4c–4d: the same network
reaches half the H error on ΔH, and the MLH energy error, quadratic in the H
error, falls 4x).

Consistent forces need d/dR Tr[G H_0(R)] for a fixed AO matrix G (the density
response, ``mlh_ipi.energy.response``). No new integrals are needed: Tr[G h] and
∫ρ_G v_Hxc[ρ_atoms] are the e-derivatives at e = 0 of Tr[D h] and E_Hxc[ρ_D] at
D = D_atoms + e G, so

    d/dR Tr[G H_0(R)] = d/de [ dE_KS[D_atoms + e G]/dR |_D fixed ]

which is a central difference of two PySCF nuclear gradients at fixed density
matrices (the Pulay term off). It matches finite differences of Tr[G H_0(R)] in
the positions to ~1e-7 Ha/Bohr (``tests/test_harris_baseline.py``,
``benchmarks/harris_force_term.py``).

Cost per geometry: H_0 is one potential build; the force term two gradient
passes. Units: Hartree and Bohr (PySCF) inside, as the method names say.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms

from mlh_ipi.dft.settings import DFTSettings

BASELINES = ("", "harris")
DENSITY_STEP = 1e-3  # e of the central difference (dimensionless; G is O(1))


class HarrisBaseline:
    """H_0 and Tr[G dH_0/dR] for one geometry, on a PySCF mean-field object of that geometry.

    ``mean_field``: reuse one already built for the geometry (e.g. the energy
    functional's), so the core Hamiltonian and the grids are built once.
    """

    def __init__(self, atoms: Atoms | None = None, settings: DFTSettings | None = None, mean_field=None,
                 hcore: np.ndarray | None = None):
        """``hcore``: h_core (Hartree) already built on ``mean_field`` (its ``get_hcore()``), e.g.
        by the energy functional that shares it; otherwise it is built here, once."""
        if mean_field is None:
            if atoms is None or settings is None:
                raise ValueError("HarrisBaseline needs atoms and settings, or a mean-field object")
            from mlh_ipi.dft.cell import build_cell
            from mlh_ipi.dft.scf import make_mean_field

            mean_field = make_mean_field(build_cell(atoms, settings), settings)
        self.mf = mean_field
        self._hcore = None if hcore is None else np.asarray(hcore)
        self._d_atoms = None
        self._h0 = None

    @property
    def hcore(self) -> np.ndarray:
        """h_core (Γ, Hartree), built once per geometry. Building it also sets up the long-range
        local-PP part that multigrid's ``get_veff`` and nuclear gradient use, so it comes first."""
        if self._hcore is None:
            self._hcore = np.asarray(self.mf.get_hcore())
        return self._hcore

    @property
    def atomic_density(self) -> np.ndarray:
        """D_atoms: the superposed neutral-atom density matrix (AO basis, electrons)."""
        if self._d_atoms is None:
            self._d_atoms = np.asarray(self.mf.get_init_guess(key="minao"))
        return self._d_atoms

    def hamiltonian_ha(self) -> np.ndarray:
        """H_0 (Γ, nao x nao, Hartree, exactly symmetric)."""
        if self._h0 is None:
            h_core = self.hcore  # first: multigrid's get_veff needs its long-range PP part
            h0 = h_core + np.asarray(self.mf.get_veff(self.mf.cell, self.atomic_density))
            self._h0 = 0.5 * (h0 + h0.T)
        return self._h0

    def fixed_density_gradient(self, dm: np.ndarray) -> np.ndarray:
        """dE_KS[D]/dR at a fixed AO density matrix D, without the overlap (Pulay) term; Hartree/Bohr, (N, 3)."""
        self.hcore  # the multigrid gradient uses the PP set up with h_core
        grad = self.mf.nuc_grad_method()
        self.mf.make_rdm1 = lambda *args, **kwargs: dm
        grad.make_rdm1e = lambda *args, **kwargs: np.zeros_like(dm)
        n = dm.shape[0]
        try:  # with make_rdm1 fixed, the orbital arguments are placeholders
            return np.asarray(grad.kernel(np.zeros(n), np.eye(n), np.ones(n)))
        finally:
            del self.mf.make_rdm1  # back to the class method

    def vjp_ha_bohr(self, weights: np.ndarray, step: float = DENSITY_STEP) -> np.ndarray:
        """d/dR_A of sum_{mu nu} weights_{mu nu} H_0_{mu nu}(R): (N, 3), Hartree/Bohr."""
        g = np.asarray(weights, dtype=np.float64)
        d = self.atomic_density
        if g.shape != d.shape:
            raise ValueError(f"weights shape {g.shape} does not match the basis ({d.shape[0]} AOs)")
        g = 0.5 * (g + g.T)  # H_0 is symmetric: only the symmetric part of G contributes
        scale = max(float(np.abs(g).max()), 1e-300)
        plus = self.fixed_density_gradient(d + (step / scale) * g)
        minus = self.fixed_density_gradient(d - (step / scale) * g)
        return (plus - minus) * (scale / (2 * step))


def check_baseline(name: str) -> str:
    """``ValueError`` for an unknown baseline name; returns the name."""
    if name not in BASELINES:
        raise ValueError(f"unknown Hamiltonian baseline {name!r}; known: {BASELINES[1:]} (or '' for none)")
    return name


class StoredBaseline:
    """A baseline whose H_0 (Γ, Hartree) is already known, e.g. read from a cache: stands in for
    ``HarrisBaseline`` where only ``hamiltonian_ha()`` is needed (predictions, not forces)."""

    def __init__(self, h0_ha: np.ndarray):
        self._h0 = np.asarray(h0_ha, dtype=np.float64)

    def hamiltonian_ha(self) -> np.ndarray:
        return self._h0


def h0_cache_key(symbols, positions_a, cell_a, settings: DFTSettings) -> str:
    """Cache key of one H_0: a hash of the species, positions and cell (Å) and the DFT settings."""
    import hashlib
    import json

    settings_key = json.dumps(settings.to_dict(), sort_keys=True).encode()
    return hashlib.sha1(settings_key + "".join(symbols).encode()
                        + np.ascontiguousarray(positions_a, dtype=np.float64).tobytes()
                        + np.ascontiguousarray(cell_a, dtype=np.float64).tobytes()).hexdigest()[:20]


def cached_h0(symbols, positions_a, cell_a, settings: DFTSettings, cache_dir=None) -> np.ndarray:
    """H_0 (Γ, nao x nao, Hartree, float64) of one geometry (positions and cell in Å): read from
    ``<cache_dir>/<key>.npy`` when there, else built (one potential build) and, with a
    ``cache_dir``, stored there as float32 (~1e-7 Ha rounding; half the size, so a label set's cache
    can be kept in git)."""
    from pathlib import Path

    from mlh_ipi.atomic_io import atomic_path

    path = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        path = Path(cache_dir) / f"{h0_cache_key(symbols, positions_a, cell_a, settings)}.npy"
        if path.exists():
            return np.load(path).astype(np.float64)
    atoms = Atoms(list(symbols), positions=positions_a, cell=cell_a, pbc=True)
    h0 = HarrisBaseline(atoms, settings).hamiltonian_ha()
    if path is not None:
        with atomic_path(path, suffix=".npy") as tmp:
            np.save(tmp, h0.astype(np.float32))
    return h0


def subtract_harris_baseline(graphs, settings: DFTSettings, cache_dir=None, progress: bool = True,
                             keep: bool = False) -> None:
    """Replace every graph's target ``hamiltonian_ha`` by ΔH = H − H_0, in place; ``keep``: also
    set ``g.baseline_ha = H_0`` (what an eigenvalue loss term needs to rebuild H = H_0 + ΔH).

    ``graphs``: objects with ``symbols``, ``positions_a``, ``cell_a`` (Angstrom) and
    ``hamiltonian_ha`` (the label's Γ matrix, Hartree). H_0 costs one potential
    build per structure (~15–30 s for 47 a-SiO2 atoms at 500 Ha on one core), so
    with ``cache_dir`` each H_0 is kept (``cached_h0``) and reused by later runs
    (resume, committees, fine-tunes, ``mlh-ipi eval-h --baseline-cache``).
    """
    from tqdm import tqdm

    for g in tqdm(graphs, disable=not progress, desc="H_0 (Harris baseline)", unit="struct"):
        if g.hamiltonian_ha is None:
            raise ValueError(f"graph {getattr(g, 'name', '')!r} has no target Hamiltonian")
        h0 = cached_h0(g.symbols, g.positions_a, g.cell_a, settings, cache_dir)
        if h0.shape != g.hamiltonian_ha.shape:
            raise ValueError(f"H_0 of {getattr(g, 'name', '')!r} has shape {h0.shape}, "
                             f"the label {g.hamiltonian_ha.shape}")
        g.hamiltonian_ha = g.hamiltonian_ha - h0
        if keep:
            g.baseline_ha = h0
