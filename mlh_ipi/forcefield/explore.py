"""Exploration MD with a MACE committee: ASE Langevin on the committee-mean forces.

This is for active-learning exploration only (a few hundred steps of small
cells). Production MD with MACE runs in LAMMPS (``mlh_ipi.lammps``). Every
``sample_every`` steps the current frame is recorded with its committee
deviation (:mod:`.deviation`); a trajectory stops early once the max force
deviation exceeds ``stop_above`` (eV/Å), since beyond that the model has left
its domain and further frames are unphysical. Units: K, fs, eV/Å.
"""
from __future__ import annotations

import numpy as np
from ase import Atoms, units
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

from mlh_ipi.forcefield.deviation import Deviation, committee_deviation

__all__ = ["committee_md"]


def committee_md(calc, atoms: Atoms, *, temperature_k: float, steps: int, sample_every: int,
                 timestep_fs: float = 1.0, friction_per_fs: float = 0.01, seed: int = 0,
                 stop_above: float | None = None) -> list[tuple[Atoms, Deviation]]:
    """Run Langevin NVT from ``atoms`` with the committee ``calc``; return sampled frames.

    Each returned frame is a plain ``Atoms`` copy (no calculator) whose ``info``
    holds ``md_step``, ``temperature_K``, ``max_force_std`` (eV/Å) and
    ``energy_std`` (eV), paired with its :class:`Deviation`. ``friction_per_fs``
    is the Langevin friction in 1/fs. Velocities start from a Maxwell-Boltzmann
    distribution at ``temperature_k`` (``seed``), with zero total momentum.
    """
    if steps < 1 or sample_every < 1:
        raise ValueError(f"steps and sample_every must be >= 1, got {steps}, {sample_every}")
    rng = np.random.default_rng(seed)
    work = atoms.copy()
    work.calc = calc
    MaxwellBoltzmannDistribution(work, temperature_K=temperature_k, rng=rng)
    Stationary(work)
    dyn = Langevin(work, timestep=timestep_fs * units.fs, temperature_K=temperature_k,
                   friction=friction_per_fs / units.fs, rng=rng)
    frames: list[tuple[Atoms, Deviation]] = []
    done = 0
    while done < steps:
        n = min(sample_every, steps - done)
        dyn.run(n)
        done += n
        dev = committee_deviation(calc, work)
        frame = Atoms(work.get_chemical_symbols(), positions=work.positions.copy(),
                      cell=work.cell.array.copy(), pbc=work.pbc)
        frame.info.update({"md_step": done, "temperature_K": float(temperature_k),
                           "max_force_std": dev.max_force_std, "energy_std": dev.energy_std})
        frames.append((frame, dev))
        if stop_above is not None and dev.max_force_std > stop_above:
            break
    return frames
