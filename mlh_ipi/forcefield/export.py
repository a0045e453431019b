"""Label files -> extended XYZ with the ``REF_`` keys mace-torch reads by default.

Each frame carries ``REF_energy`` (eV, ``atoms.info``) and ``REF_forces``
(eV/Å, ``atoms.arrays``), positions (Å), the cell (Å) and ``pbc=True``. No
``REF_stress`` is written: the Gamma-point labels have no stress, and
mace-torch then trains on energies and forces only. ``label_file`` (the source
path) and ``config_type`` ride along in ``info`` for provenance.

The reference values are stored under ``REF_`` names and *not* attached as an
ASE calculator: ASE's extxyz writer would otherwise emit them as plain
``energy``/``forces``, which mace-torch also reads, and a model prediction
could be mistaken for a label.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path
from mlh_ipi.data.labelfile import collect_label_files, read_label
from mlh_ipi.dft.settings import check_compatible
from mlh_ipi.dft.types import Label

ENERGY_KEY = "REF_energy"  # eV, per structure
FORCES_KEY = "REF_forces"  # eV/Å, per atom

__all__ = ["ENERGY_KEY", "FORCES_KEY", "label_to_atoms", "collect_label_files",
           "export_labels", "read_reference"]


def label_to_atoms(lab: Label, source: str = "", config_type: str = "Default") -> Atoms:
    """An ``Atoms`` with ``REF_energy`` (eV) in ``info`` and ``REF_forces`` (eV/Å) in ``arrays``."""
    atoms = Atoms(lab.symbols, positions=np.asarray(lab.positions_a, float),
                  cell=np.asarray(lab.cell_a, float), pbc=True)
    atoms.info[ENERGY_KEY] = float(lab.energy_ev)
    atoms.info["config_type"] = config_type
    if source:
        atoms.info["label_file"] = source
    atoms.arrays[FORCES_KEY] = np.asarray(lab.forces_ev_per_a, float).copy()
    return atoms


def export_labels(paths: Sequence[str | Path], out: str | Path,
                  config_type: str = "Default") -> list[Atoms]:
    """Write every label under ``paths`` (files or folders) to the extxyz ``out``, atomically.

    Returns the frames written. Energies in eV, forces in eV/Å, lengths in Å.
    All labels must share the DFT physics settings (one potential energy
    surface); a mix is a ``ValueError`` naming the differing settings.
    """
    frames, first = [], None
    for f in collect_label_files(paths):
        lab = read_label(f)
        if first is None:
            first = (f, lab.settings)
        else:
            try:
                check_compatible(first[1], lab.settings, what=f"label {first[0].name}")
            except ValueError as err:
                raise ValueError(f"{f}: {err}; export labels of one DFT setting together") from None
        frames.append(label_to_atoms(lab, source=str(f), config_type=config_type))
    write_frames(out, frames)
    return frames


def write_frames(out: str | Path, frames: Sequence[Atoms]) -> None:
    """Write ``frames`` (already carrying ``REF_`` keys) to extxyz ``out`` atomically."""
    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, list(frames), format="extxyz")


def read_reference(path: str | Path) -> tuple[list[Atoms], np.ndarray, list[np.ndarray]]:
    """Frames of an exported extxyz with their ``REF_energy`` (eV) and ``REF_forces`` (eV/Å)."""
    frames = read(path, index=":", format="extxyz")
    energies = np.array([f.info[ENERGY_KEY] for f in frames], dtype=float)
    forces = [np.asarray(f.arrays[FORCES_KEY], float) for f in frames]
    return frames, energies, forces
