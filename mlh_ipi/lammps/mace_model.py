"""MACE energy, forces and virial of one periodic cell, straight from the torch model.

:class:`MACEPotential` loads one MACE model file (or several: a committee whose
mean is returned) and evaluates it on ``(atomic numbers, positions, cell)``. It
builds the same graph as ``mace.calculators.MACECalculator`` (mace's own
``get_neighborhood``, one-hot node attributes in the model's atomic-number order,
integer cell shifts for the stress) but skips the ASE/``AtomicData``/``DataLoader``
layers, so a LAMMPS ``fix external`` callback pays only for the network.

Units at the boundary: positions and cell in Angstrom, energy in eV, forces in
eV/Angstrom, virial in eV (LAMMPS convention ``W_ab = sum_i r_ia f_ib``, so that
``P = (N k T + tr W / 3) / V``); ``W = -V * sigma`` with ``sigma`` the ASE stress.

Model files are full pickled ``torch.nn.Module`` objects (what ``mace_run_train``
writes as ``*.model`` and what ``MACECalculator`` loads); ``torch.load`` therefore
runs with ``weights_only=False``: load only model files you trust.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

torch.serialization.add_safe_globals([slice])  # e3nn 0.4.4 constants (see mlh_ipi.model)

from ase.data import atomic_numbers as _Z, chemical_symbols  # noqa: E402
from mace.data.neighborhood import get_neighborhood  # noqa: E402

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class MACEResult:
    """One evaluation: ``energy`` (eV), ``forces`` (N, 3) eV/Angstrom, ``virial`` (3, 3) eV."""

    energy: float
    forces: np.ndarray
    virial: np.ndarray

    def stress(self, volume: float) -> np.ndarray:
        """ASE stress tensor (3, 3) in eV/Angstrom^3: ``-virial / volume``."""
        return -self.virial / volume


class MACEPotential:
    """A MACE model (or a committee of models: mean prediction) on CPU or GPU.

    ``model_paths``: one path or a list; all members must share ``r_max`` and the
    element list. ``dtype``: ``"float64"`` (default, for MD and exact checks) or
    ``"float32"``; the models are cast to it.
    """

    def __init__(self, model_paths: str | os.PathLike | Sequence[str | os.PathLike],
                 device: str = "cpu", dtype: str = "float64"):
        if isinstance(model_paths, (str, os.PathLike)):
            model_paths = [model_paths]
        self.model_paths = [Path(p) for p in model_paths]
        if not self.model_paths:
            raise ValueError("no MACE model file given")
        for p in self.model_paths:
            if not p.is_file():
                raise FileNotFoundError(f"MACE model file not found: {p}")
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        self.device = torch.device(device)
        self.dtype = _DTYPES[dtype]
        self.models = []
        for p in self.model_paths:
            model = torch.load(p, map_location=self.device, weights_only=False)
            if not isinstance(model, torch.nn.Module) or not hasattr(model, "atomic_numbers"):
                raise ValueError(f"{p} is not a MACE model file (a pickled torch.nn.Module "
                                 f"with atomic_numbers and r_max)")
            model = model.to(self.dtype).eval()
            for param in model.parameters():
                param.requires_grad_(False)
            self.models.append(model)
        r_maxs = {float(m.r_max) for m in self.models}
        zs = {tuple(int(z) for z in m.atomic_numbers) for m in self.models}
        if len(r_maxs) != 1 or len(zs) != 1:
            raise ValueError(f"committee members differ in r_max {sorted(r_maxs)} or elements "
                             f"{sorted(zs)}: {[str(p) for p in self.model_paths]}")
        self.r_max = r_maxs.pop()
        self.atomic_numbers = zs.pop()  # the model's one-hot order
        self._z_index = {z: i for i, z in enumerate(self.atomic_numbers)}
        self.head_index = _default_head(self.models[0])

    @property
    def elements(self) -> list[str]:
        """Chemical symbols the model knows, in its own order."""
        return [chemical_symbols[z] for z in self.atomic_numbers]

    def check_species(self, symbols_or_numbers: Sequence[str | int], where: str = "structure") -> None:
        """``ValueError`` naming every element of ``where`` that the model lacks."""
        zs = {int(_Z[s]) if isinstance(s, str) else int(s) for s in symbols_or_numbers}
        missing = sorted(z for z in zs if z not in self._z_index)
        if missing:
            raise ValueError(
                f"{where} contains {[chemical_symbols[z] for z in missing]}, which the MACE "
                f"model ({', '.join(str(p) for p in self.model_paths)}) was not trained on; "
                f"it knows {self.elements}")

    def _graph(self, numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray) -> dict:
        n = len(numbers)
        edge_index, shifts, unit_shifts, _ = get_neighborhood(
            positions=positions, cutoff=self.r_max, pbc=(True, True, True), cell=cell.copy())
        one_hot = np.zeros((n, len(self.atomic_numbers)))
        one_hot[np.arange(n), [self._z_index[int(z)] for z in numbers]] = 1.0
        f = dict(dtype=self.dtype, device=self.device)
        i = dict(dtype=torch.long, device=self.device)
        return {
            "positions": torch.tensor(positions, **f),
            "cell": torch.tensor(cell, **f),
            "node_attrs": torch.tensor(one_hot, **f),
            "edge_index": torch.tensor(edge_index, **i),
            "shifts": torch.tensor(shifts, **f),
            "unit_shifts": torch.tensor(unit_shifts, **f),
            "batch": torch.zeros(n, **i),
            "ptr": torch.tensor([0, n], **i),
            "head": torch.tensor([self.head_index], **i),
        }

    def evaluate(self, numbers: Sequence[int], positions: np.ndarray, cell: np.ndarray) -> MACEResult:
        """Energy, forces and virial of a fully periodic cell.

        ``numbers``: atomic numbers (N,); ``positions``: (N, 3) Angstrom, anywhere
        (wrapped internally, which changes no result); ``cell``: (3, 3) lattice
        vectors as rows, Angstrom.
        """
        numbers = np.asarray(numbers, dtype=int)
        cell = np.asarray(cell, dtype=float).reshape(3, 3)
        positions = np.asarray(positions, dtype=float).reshape(-1, 3)
        if len(numbers) != len(positions):
            raise ValueError(f"{len(numbers)} atomic numbers for {len(positions)} positions")
        self.check_species(numbers.tolist())
        if not np.all(np.isfinite(positions)):
            raise ValueError("non-finite atomic positions (the MD has blown up)")
        frac = np.linalg.solve(cell.T, positions.T).T
        wrapped = (frac - np.floor(frac)) @ cell
        volume = abs(float(np.linalg.det(cell)))
        energy, forces, stress = 0.0, np.zeros_like(positions), np.zeros((3, 3))
        for model in self.models:
            out = model(self._graph(numbers, wrapped, cell), compute_force=True,
                        compute_stress=True, training=False)
            energy += float(out["energy"].detach()[0])
            forces += out["forces"].detach().cpu().numpy()
            stress += out["stress"].detach().cpu().numpy().reshape(3, 3)
        k = len(self.models)
        return MACEResult(energy / k, forces / k, -volume * stress / k)


def _default_head(model) -> int:
    """Head ``MACECalculator`` picks by default: "default" (any case), else the last one."""
    heads = list(getattr(model, "heads", None) or ["Default"])
    lower = [h.lower() for h in heads]
    return lower.index("default") if "default" in lower else len(heads) - 1


__all__ = ["MACEPotential", "MACEResult"]
