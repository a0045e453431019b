"""Load MACE models as one ASE calculator: a single model, or a committee of several.

mace-torch's ``MACECalculator`` already evaluates a list of models and returns
the committee mean as ``energy``/``forces`` (eV, eV/Å) plus every member's
prediction (``energy_comm``, ``forces_comm``) and the variances. This module
adds what our workflows need on top: a clear error for a missing file, the
chemical species a model covers, and a species check before the first
evaluation (mace itself fails deep inside its graph construction with an
``index`` error when a structure holds an element the model never saw).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
from ase import Atoms
from ase.calculators.calculator import all_changes
from ase.data import chemical_symbols
from mace.calculators import MACECalculator

# mace sets TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD (its model files are pickled modules) and torch
# then warns on every load; the models we load are our own training outputs.
warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD",
                        category=UserWarning)

__all__ = ["load_mace", "species_of_model", "check_species", "SpeciesCheckedMACECalculator"]


def _paths(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        folder = Path(paths)
        if folder.is_dir():  # a train-mace output folder: its finished members
            members = sorted(folder.glob("member_*/mace.model"),
                             key=lambda p: int(p.parent.name.split("_")[1]))
            if not members:
                raise ValueError(f"no member_*/mace.model in folder {folder}")
            return members
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no MACE model files given")
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ValueError(f"MACE model file(s) not found: {missing}")
    return paths


def species_of_model(path: str | os.PathLike) -> list[str]:
    """Chemical symbols a MACE model file covers (from its ``atomic_numbers``), in Z order."""
    (path,) = _paths(path)
    model = torch.load(path, map_location="cpu", weights_only=False)
    return _species(model)


def _species(model) -> list[str]:
    return [chemical_symbols[int(z)] for z in sorted(int(z) for z in model.atomic_numbers)]


def check_species(atoms: Atoms, species: Sequence[str], what: str = "MACE model") -> None:
    """``ValueError`` naming every element of ``atoms`` that ``species`` does not cover."""
    missing = sorted(set(atoms.get_chemical_symbols()) - set(species))
    if missing:
        raise ValueError(f"{what} covers {', '.join(species)} only; the structure "
                         f"({atoms.get_chemical_formula()}) also has {', '.join(missing)}")


def load_mace(paths: str | os.PathLike | Sequence[str | os.PathLike], device: str = "cpu",
              default_dtype: str = "float64") -> "SpeciesCheckedMACECalculator":
    """An ASE calculator for one MACE model file or a committee of several (eV, eV/Å, eV/Å^3).

    ``paths``: one model file, a list of them, or a ``train-mace``/``al-mace``
    committee folder (its ``member_*/mace.model``).

    With two or more files, ``energy``/``forces``/``stress`` are the committee
    means and ``results`` also holds ``energy_comm``/``forces_comm`` (every
    member) and ``energy_var``/``forces_var`` (population variances), which
    :mod:`mlh_ipi.forcefield.deviation` turns into selection scores. Raises
    ``ValueError`` if a file is missing or the members cover different species.
    """
    paths = _paths(paths)
    return SpeciesCheckedMACECalculator([str(p) for p in paths], device=device,
                                        default_dtype=default_dtype)


class SpeciesCheckedMACECalculator(MACECalculator):
    """``MACECalculator`` that refuses structures with elements outside the model's species."""

    def __init__(self, model_paths: list[str], **kwargs):
        super().__init__(model_paths=model_paths, **kwargs)
        self.model_paths = list(model_paths)
        per_member = [_species(m) for m in self.models]
        if any(s != per_member[0] for s in per_member):
            raise ValueError(f"committee members cover different species: "
                             f"{dict(zip(model_paths, per_member))}")
        self.species = per_member[0]

    @property
    def size(self) -> int:
        """Number of committee members."""
        return self.num_models

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        if atoms is not None:
            what = "MACE model" if self.num_models == 1 else f"MACE committee ({self.num_models} models)"
            check_species(atoms, self.species, what)
        super().calculate(atoms, properties, system_changes)
