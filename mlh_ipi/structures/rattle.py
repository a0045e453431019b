"""Randomly displaced snapshots for labelling: Gaussian rattles and Einstein-model thermal ones.

Displacements in Angstrom, temperatures in K, frequencies in THz, strains
dimensionless. Every generator is deterministic for a given seed, and snapshot k
of a series does not depend on how many snapshots are asked for (each one draws
from its own ``numpy.random.SeedSequence(seed).spawn`` child).
"""
from __future__ import annotations

import math

import numpy as np
from ase import Atoms
from ase.units import _hbar, _k, _amu

__all__ = ["einstein_std", "rattle", "rattled_snapshots", "thermal_snapshots"]


def _check_finite(atoms: Atoms) -> None:
    if not np.isfinite(atoms.positions).all():
        raise ValueError("positions contain NaN or inf")
    if not np.isfinite(atoms.cell.array).all():
        raise ValueError("cell contains NaN or inf")


def _check_scalar(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _displace(atoms: Atoms, std: np.ndarray, strain: float, rng: np.random.Generator) -> Atoms:
    out = atoms.copy()
    out.positions = atoms.positions + rng.normal(size=(len(atoms), 3)) * std
    if strain > 0:
        if not atoms.pbc.any():
            raise ValueError("cell strain needs a periodic cell")
        e = rng.normal(scale=strain, size=(3, 3))
        e = 0.5 * (e + e.T)  # symmetric: no rigid rotation
        out.set_cell(atoms.cell.array @ (np.eye(3) + e), scale_atoms=True)
    return out


def rattle(atoms: Atoms, std: float, seed: int | np.random.Generator | None = 0,
           strain: float = 0.0) -> Atoms:
    """Copy of ``atoms`` with every Cartesian coordinate shifted by N(0, ``std``^2).

    ``std`` in Angstrom. ``strain`` > 0 also deforms the cell by a random symmetric
    strain tensor whose components have that standard deviation (dimensionless),
    scaling the atoms with it. ``info`` gains ``rattle_std`` and ``rattle_strain``.
    Raises ``ValueError`` for NaN/inf positions, cell or arguments.
    """
    _check_finite(atoms)
    std = _check_scalar("std", std)
    strain = _check_scalar("strain", strain)
    out = _displace(atoms, np.full((len(atoms), 1), std), strain, np.random.default_rng(seed))
    out.info.update({"rattle_std": std, "rattle_strain": strain})
    return out


def rattled_snapshots(atoms: Atoms, std: float, count: int, seed: int = 0,
                      strain: float = 0.0) -> list[Atoms]:
    """``count`` independent :func:`rattle` copies; snapshot k is the same for any count.

    ``info`` of each gains ``rattle_std``, ``rattle_strain``, ``rattle_seed`` and
    ``snapshot`` (k).
    """
    _check_finite(atoms)
    std = _check_scalar("std", std)
    strain = _check_scalar("strain", strain)
    children = _children(seed, count)
    out = []
    for k, child in enumerate(children):
        snap = _displace(atoms, np.full((len(atoms), 1), std), strain, np.random.default_rng(child))
        snap.info.update({"rattle_std": std, "rattle_strain": strain,
                          "rattle_seed": int(seed), "snapshot": k})
        out.append(snap)
    return out


def einstein_std(masses_amu: np.ndarray, temperature: float, frequency_thz: float,
                 quantum: bool = False) -> np.ndarray:
    """Per-atom r.m.s. displacement (Angstrom, per Cartesian direction) of Einstein oscillators.

    Classical: ``sigma^2 = k_B T / (m omega^2)``; quantum (zero-point included):
    ``sigma^2 = hbar / (2 m omega) * coth(hbar omega / (2 k_B T))``, with
    ``omega = 2 pi frequency``. ``temperature`` in K, ``frequency_thz`` in THz
    (10 THz <-> Einstein temperature 480 K). Choose the frequency so that sigma
    matches the material's mean-square displacement: about 3.3 THz reproduces
    GaAs's <u^2> ~ 0.0085 Angstrom^2 per direction at 300 K.
    """
    temperature = _check_scalar("temperature", temperature)
    frequency_thz = _check_scalar("frequency_thz", frequency_thz)
    if frequency_thz == 0:
        raise ValueError("frequency_thz must be > 0")
    m = np.asarray(masses_amu, float) * _amu  # kg
    omega = 2.0 * np.pi * frequency_thz * 1.0e12  # rad/s
    if quantum:
        x = _hbar * omega / (2.0 * _k * temperature) if temperature > 0 else np.inf
        var = _hbar / (2.0 * m * omega) / np.tanh(x)
    else:
        var = _k * temperature / (m * omega**2)
    return np.sqrt(var) * 1.0e10  # m -> Angstrom


def thermal_snapshots(atoms: Atoms, temperature: float, count: int, seed: int = 0, *,
                      frequency_thz: float, quantum: bool = False) -> list[Atoms]:
    """``count`` snapshots with mass-dependent Gaussian displacements of Einstein oscillators.

    Each atom moves by N(0, sigma_m^2) per direction with sigma from
    :func:`einstein_std` at ``temperature`` (K) and ``frequency_thz`` (THz, no
    default: it is material-specific). ``info`` gains ``temperature_K``,
    ``einstein_thz``, ``rattle_seed`` and ``snapshot``.
    """
    _check_finite(atoms)
    std = einstein_std(atoms.get_masses(), temperature, frequency_thz, quantum)[:, None]
    out = []
    for k, child in enumerate(_children(seed, count)):
        snap = _displace(atoms, std, 0.0, np.random.default_rng(child))
        snap.info.update({"temperature_K": float(temperature), "einstein_thz": float(frequency_thz),
                          "rattle_seed": int(seed), "snapshot": k})
        out.append(snap)
    return out


def _children(seed: int, count: int) -> list[np.random.SeedSequence]:
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise ValueError(f"count must be an integer >= 0, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return np.random.SeedSequence(int(seed)).spawn(int(count))
