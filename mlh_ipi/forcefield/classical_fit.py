"""A MACE model trained (by ``mace_run_train``) on a classical potential's energies and forces.

Used where a physical, cheap MACE is wanted without DFT labels: the LAMMPS
+ MACE MD speed benchmark, the GaAs example's pre-equilibration and the
vibrating-solid MD test. The potential energy surface is the classical one
(e.g. GaAs BOP), not DFT; nothing here claims DFT accuracy.

Data: ``strains`` isotropically strained and rattled copies of ``atoms`` plus
Langevin snapshots at each of ``temperatures`` (LAMMPS, the classical
potential itself). Training: :func:`mlh_ipi.forcefield.mace_training.train_mace`
with the CPU defaults below. Resumable: the labelled frames are written once
to ``out/train.extxyz`` and training resumes from mace's checkpoints; a
finished folder returns its model at once.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk

from mlh_ipi.forcefield.export import write_frames
from mlh_ipi.forcefield.mace_training import MACETrainingSettings, train_mace

log = logging.getLogger(__name__)

# Small, fast, smooth: one epoch over ~24 64-atom frames takes about a second on one core.
CLASSICAL_FIT_SETTINGS = MACETrainingSettings(
    r_max=4.5, num_channels=16, max_L=1, correlation=2, num_interactions=2,
    max_num_epochs=60, batch_size=2, lr=0.01, energy_weight=1.0, forces_weight=100.0,
    valid_fraction=0.15, eval_interval=5)


def fit_mace_to_classical(out: str | Path, atoms: Atoms, potential, *,
                          temperatures: Sequence[float] = (300.0, 600.0, 900.0),
                          frames_per_temperature: int = 6, strains: Sequence[float] = tuple(np.linspace(-0.02, 0.02, 6)),
                          settings: MACETrainingSettings = CLASSICAL_FIT_SETTINGS, seed: int = 0,
                          threads: int = 1, progress: bool = True) -> Path:
    """Train a MACE on ``potential`` (a :class:`mlh_ipi.lammps.classical.ClassicalPotential`) around
    ``atoms``; return the ``.model`` path (float64, loadable by ``MACECalculator`` and
    :class:`mlh_ipi.lammps.mace_model.MACEPotential`)."""
    from mlh_ipi.lammps.classical import strained_rattled, thermal_snapshots

    out = Path(out)
    train_file = out / "train.extxyz"
    if not train_file.exists():
        frames = strained_rattled(atoms, potential, strains, seed=seed)
        for k, t in enumerate(temperatures):
            frames += thermal_snapshots(atoms, potential, t, frames_per_temperature, seed=seed + 11 * k + 1)
        out.mkdir(parents=True, exist_ok=True)
        write_frames(train_file, frames)
        log.info("%s: %d frames labelled with %s", train_file, len(frames), potential.file)
    return train_mace(train_file, out / "mace", settings, seed=seed, threads=threads, progress=progress)


def gaas_bop_mace(out: str | Path, *, supercell: int = 2, a: float = 5.65, seed: int = 0,
                  threads: int = 1, progress: bool = True) -> Path:
    """MACE fitted to GaAs BOP (``GaAs.bop.table``) on a ``supercell``^3 conventional zincblende cell
    (64 atoms for 2; ``a`` in Angstrom, BOP's own region near experiment's 5.65)."""
    from mlh_ipi.lammps.classical import GAAS_BOP

    base = bulk("GaAs", "zincblende", a=a, cubic=True).repeat((supercell,) * 3)
    return fit_mace_to_classical(out, base, GAAS_BOP, seed=seed, threads=threads, progress=progress)


__all__ = ["CLASSICAL_FIT_SETTINGS", "fit_mace_to_classical", "gaas_bop_mace"]
