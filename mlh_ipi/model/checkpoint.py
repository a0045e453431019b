"""Model checkpoints: plain dicts of tensors and primitives, loadable with ``torch.load(weights_only=True)``.

Contents (``FORMAT``, ``VERSION``)::

    model_config   ModelConfig.to_dict()            (cutoffs in Angstrom, irreps strings)
    layout         OrbitalLayout.to_dict()
    settings       DFTSettings.to_dict()             (the labels' DFT reference)
    normalisation  {"scale": Ha, "onsite_shift": [[Ha, ...], ...]}
    state_dict     model weights and buffers
    metrics        training history and summary (MAE in meV)
    training       optional: optimizer/scheduler/RNG state for ``--resume``

Loading against a different orbital layout or different DFT physics settings
raises ``ValueError``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mlh_ipi.atomic_io import atomic_path
from mlh_ipi.dft.settings import DFTSettings, check_compatible
from mlh_ipi.model.network import HamiltonianModel, ModelConfig
from mlh_ipi.orbitals import OrbitalLayout

FORMAT = "mlh-ipi-hamiltonian-model"
VERSION = 1


def checkpoint_dict(model: HamiltonianModel, settings: DFTSettings, normalisation: dict,
                    metrics: dict | None = None, training: dict | None = None) -> dict:
    """Everything needed to rebuild ``model`` (and optionally resume its training)."""
    ckpt = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "layout": model.layout.to_dict(),
        "settings": settings.to_dict(),
        "normalisation": {"scale": float(normalisation["scale"]),
                          "onsite_shift": [list(map(float, r)) for r in normalisation["onsite_shift"]]},
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "metrics": metrics or {},
    }
    if training is not None:
        ckpt["training"] = training
    return ckpt


def save_checkpoint(path: str | os.PathLike, ckpt: dict) -> Path:
    """Write atomically (a crash leaves the previous checkpoint intact)."""
    path = Path(path)
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(ckpt, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict (``weights_only=True``); ``ValueError`` for a foreign file."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path}: not an mlh-ipi Hamiltonian model checkpoint")
    if ckpt.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt.get('version')} (this mlh-ipi reads {VERSION})")
    return ckpt


def check_layout(trained: OrbitalLayout, requested: OrbitalLayout, what: str = "model") -> None:
    """``ValueError`` unless ``requested`` is covered by ``trained`` with identical shells."""
    problems = []
    if trained.basis != requested.basis:
        problems.append(f"basis: {what} has {trained.basis!r}, requested {requested.basis!r}")
    if trained.m_order != requested.m_order:
        problems.append(f"m order: {what} has {trained.m_order!r}, requested {requested.m_order!r}")
    for el, ls in requested.shells.items():
        if el not in trained.shells:
            problems.append(f"element {el} not in {what} (covers {list(trained.elements)})")
        elif trained.shells[el] != ls:
            problems.append(f"{el} shells: {what} has l={list(trained.shells[el])}, requested l={list(ls)}")
    if problems:
        raise ValueError("orbital layout mismatch (" + "; ".join(problems) + ")")


def stored_model_config(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's model options; ones written before an option existed get its legacy value.

    ``mp_switch_width`` (2026-11-23): older checkpoints were trained without the switch, so they
    load with ``0`` and predict exactly what they were trained to predict.
    """
    return {"mp_switch_width": 0.0, **ckpt["model_config"]}


def model_from_checkpoint(ckpt: dict[str, Any], dtype: torch.dtype = torch.float32) -> HamiltonianModel:
    """Rebuild the network and load its weights."""
    layout = OrbitalLayout.from_dict(ckpt["layout"])
    model = HamiltonianModel(ModelConfig.from_dict(stored_model_config(ckpt)), layout)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(dtype).eval()


def load_model(path: str | os.PathLike, layout: OrbitalLayout | None = None,
               settings: DFTSettings | None = None, dtype: torch.dtype = torch.float32):
    """``(model, ckpt)``; checks ``layout``/``settings`` against the checkpoint when given."""
    ckpt = read_checkpoint(path)
    if layout is not None:
        check_layout(OrbitalLayout.from_dict(ckpt["layout"]), layout, what=f"model {Path(path).name}")
    if settings is not None:
        check_compatible(DFTSettings.from_dict(ckpt["settings"]), settings,
                         what=f"model {Path(path).name}")
    return model_from_checkpoint(ckpt, dtype), ckpt
