"""ASE ``Atoms`` (Angstrom) -> PySCF periodic ``Cell`` (Bohr inside), with input validation.

Every bad input is rejected here, before any integral is computed:
NaN/inf positions, a degenerate cell, an element without basis or pseudopotential,
an unknown basis name. :func:`check_electron_count` rejects an electron count that
the settings' occupations cannot hold (called by ``mlh_ipi.dft.scf.make_mean_field``).
"""
from __future__ import annotations

import functools
import warnings

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols
from pyscf.pbc import gto

from mlh_ipi.dft.fft import use_scipy_fft
from mlh_ipi.dft.settings import DFTSettings

use_scipy_fft()  # exact transforms, faster than PySCF's matrix DFT on prime-sized meshes


def validate_atoms(atoms: Atoms) -> None:
    """Raise ``ValueError`` for structures no DFT code should see."""
    if len(atoms) == 0:
        raise ValueError("structure has no atoms")
    pos = atoms.get_positions()
    if not np.all(np.isfinite(pos)):
        bad = np.unique(np.nonzero(~np.isfinite(pos))[0])
        raise ValueError(f"non-finite (NaN/inf) positions for atom(s) {bad.tolist()[:10]}")
    cellpar = atoms.cell.array
    if not np.all(np.isfinite(cellpar)):
        raise ValueError("non-finite cell vectors")
    if not all(atoms.pbc):
        raise ValueError("the DFT backend is periodic in 3D; set atoms.pbc = True and a cell")
    vol = abs(np.linalg.det(cellpar))
    if vol < 1e-6:
        raise ValueError(f"degenerate cell (volume {vol:.3g} A^3)")
    for z in set(atoms.numbers):
        if not 0 < z < len(chemical_symbols):
            raise ValueError(f"unknown element with atomic number {z}")


@functools.lru_cache(maxsize=None)
def _check_basis_pseudo(basis: str, pseudo: str, symbol: str) -> None:
    try:
        bas = gto.basis.load(basis, symbol)
    except Exception as err:  # PySCF raises several types for unknown names
        raise ValueError(f"unknown basis {basis!r} (or no entry for {symbol}): {err}") from None
    if not bas:
        raise ValueError(f"basis {basis!r} has no functions for element {symbol}")
    try:
        pp = gto.pseudo.load(pseudo, symbol)
    except Exception as err:
        raise ValueError(f"pseudopotential {pseudo!r} has no entry for element {symbol}: {err}") from None
    if not pp:
        raise ValueError(f"pseudopotential {pseudo!r} has no entry for element {symbol}")


def build_cell(atoms: Atoms, settings: DFTSettings, verbose: int = 0) -> gto.Cell:
    """A built PySCF ``Cell`` for ``atoms`` with the basis, pseudopotential and grid of ``settings``."""
    validate_atoms(atoms)
    symbols = atoms.get_chemical_symbols()
    elements = sorted(set(symbols))
    for s in elements:
        _check_basis_pseudo(settings.basis_for(s), settings.pseudo_for(s), s)
    cell = gto.Cell()
    cell.atom = [(s, p) for s, p in zip(symbols, atoms.get_positions())]
    cell.a = atoms.cell.array
    cell.unit = "A"
    cell.basis = {s: settings.basis_for(s) for s in elements}
    cell.pseudo = {s: settings.pseudo_for(s) for s in elements}
    cell.ke_cutoff = settings.ke_cutoff
    cell.precision = settings.precision
    cell.spin = settings.spin
    cell.verbose = verbose
    with warnings.catch_warnings():
        if fractional_occupations(settings):  # an odd electron count is expected and handled
            warnings.filterwarnings("ignore", message="Electron number .* are not consistent")
        cell.build()
    return cell


def fractional_occupations(settings: DFTSettings) -> bool:
    """Restricted Kohn-Sham with Fermi-Dirac smearing: any electron count, odd ones included."""
    return settings.smearing is not None and settings.spin == 0


def check_electron_count(nelectron: int, settings: DFTSettings) -> None:
    """``ValueError`` when ``nelectron`` and ``settings.spin`` (2S) differ in parity, unless the
    occupations are fractional (:func:`fractional_occupations`).

    Without this, a restricted SCF of an odd-electron cell (a neutral V_Ga in GaAs, say)
    fills ``nelectron // 2`` orbitals: PySCF drops one electron and converges a charged cell.
    """
    if (nelectron - settings.spin) % 2 and not fractional_occupations(settings):
        raise ValueError(
            f"{nelectron} valence electrons cannot have spin 2S = {settings.spin}: set smearing "
            f"(restricted, fractional occupations) or a spin of matching parity (unrestricted)")


def valence_electrons(symbols, settings: DFTSettings) -> int:
    """Number of valence electrons with the settings' pseudopotentials (closed shell count)."""
    total = 0
    for sym in symbols:
        _check_basis_pseudo(settings.basis_for(sym), settings.pseudo_for(sym), sym)
        total += _valence_of(settings.pseudo_for(sym), sym)
    return total


@functools.lru_cache(maxsize=None)
def _valence_of(pseudo: str, symbol: str) -> int:
    return int(sum(gto.pseudo.load(pseudo, symbol)[0]))


def gamma_overlap(atoms: Atoms, settings: DFTSettings) -> np.ndarray:
    """The Gamma-point AO overlap S (lattice-summed), without building any DFT grid."""
    return np.asarray(build_cell(atoms, settings).pbc_intor("int1e_ovlp", hermi=1))
