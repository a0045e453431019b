"""A committee of Hamiltonian models: mean prediction and spread (Hartree).

The spread is the standard deviation over members of every predicted matrix
element; ``max_std`` (its maximum) is the scalar used for active-learning
selection (cf. the DeepH committee protocol of the GaAs study).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from mlh_ipi.data.graphs import StructureGraph
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.model.predictor import HamiltonianPredictor, with_baseline_vjp
from mlh_ipi.orbitals import OrbitalLayout


@dataclass
class CommitteeBlocks:
    """Mean blocks and their spread; ``pairs`` rows ``(i, j, R1, R2, R3)`` as in ``predict``."""

    pairs: np.ndarray
    blocks: list[np.ndarray]       # mean H_ij(R), Hartree
    std_blocks: list[np.ndarray]   # std over members, Hartree
    max_std: float                 # max over all elements, Hartree


@dataclass
class CommitteeGamma:
    mean: np.ndarray               # H^Gamma (nao x nao), Hartree
    std: np.ndarray                # elementwise std over members, Hartree
    max_std: float


class Committee:
    """Several ``HamiltonianPredictor`` members trained on the same data with different seeds."""

    def __init__(self, members: Sequence[HamiltonianPredictor]):
        if len(members) < 1:
            raise ValueError("a committee needs at least one member")
        first = members[0]
        for m in members[1:]:
            if (m.cutoff_h, m.cutoff_mp) != (first.cutoff_h, first.cutoff_mp):
                raise ValueError("committee members use different cutoffs")
            if m.baseline != first.baseline:
                raise ValueError(f"committee members use different baselines ({first.baseline!r} vs {m.baseline!r})")
            m.check(first.layout, first.settings)
        self.members = list(members)

    @classmethod
    def load(cls, paths: str | os.PathLike | Sequence[str | os.PathLike],
             layout: OrbitalLayout | None = None, settings: DFTSettings | None = None,
             dtype: torch.dtype = torch.float32) -> "Committee":
        """From checkpoint files, or a committee folder (its ``member_*/best.pt``)."""
        if isinstance(paths, (str, os.PathLike)):
            folder = Path(paths)
            paths = sorted(folder.glob("member_*/best.pt")) if folder.is_dir() else [folder]
            if not paths:
                raise FileNotFoundError(f"no member_*/best.pt under {folder}")
        return cls([HamiltonianPredictor.load(p, layout, settings, dtype) for p in paths])

    def __len__(self) -> int:
        return len(self.members)

    @property
    def layout(self) -> OrbitalLayout:
        return self.members[0].layout

    @property
    def settings(self) -> DFTSettings:
        return self.members[0].settings

    def graph(self, symbols, positions_a, cell_a) -> StructureGraph:
        return self.members[0].graph(symbols, positions_a, cell_a)

    def predict(self, graph: StructureGraph) -> CommitteeBlocks:
        """Mean and spread of the real-space blocks H_ii(0), H_ij(R)."""
        outs = [m.predict_padded(graph) for m in self.members]
        pairs, _, norb = outs[0]
        stack = np.stack([o[1] for o in outs])
        mean, std = stack.mean(0), stack.std(0)
        cut = [(p, norb[i], norb[j]) for p, (i, j) in enumerate(pairs[:, :2])]
        return CommitteeBlocks(pairs=pairs, blocks=[mean[p, :a, :b] for p, a, b in cut],
                               std_blocks=[std[p, :a, :b] for p, a, b in cut],
                               max_std=float(std.max()) if std.size else 0.0)

    @property
    def baseline(self) -> str:
        return self.members[0].baseline

    def predict_gamma(self, graph: StructureGraph, baseline=None) -> CommitteeGamma:
        """Mean and elementwise spread of ``H^Gamma`` (a baseline's H_0, shared by all members, built once)."""
        stack = np.stack([m.predict_network_gamma(graph) for m in self.members])
        std = stack.std(0)
        base = self.members[0].harris_baseline(graph, baseline)
        if base is not None:
            stack = stack + base.hamiltonian_ha()[None]
        return CommitteeGamma(mean=stack.mean(0), std=std, max_std=float(std.max()))

    def member_gammas(self, graph: StructureGraph, baseline=None) -> list[np.ndarray]:
        """Every member's ``H^Gamma`` (Hartree), a baseline's H_0 built once and added to each."""
        base = self.members[0].harris_baseline(graph, baseline)
        h0 = 0.0 if base is None else base.hamiltonian_ha()
        return [m.predict_network_gamma(graph) + h0 for m in self.members]

    def gamma_vjp(self, graph: StructureGraph, weights: np.ndarray, baseline=None) -> np.ndarray:
        """Geometry derivative of sum G.H for the committee mean H (Hartree/Angstrom), see the predictor."""
        grad = np.mean([m.network_gamma_vjp(graph, weights) for m in self.members], axis=0)
        return with_baseline_vjp(grad, self.members[0].harris_baseline(graph, baseline), weights)

    def network_spread(self, graph: StructureGraph) -> float:
        """Largest elementwise committee spread of ``H^Gamma`` (Hartree), without building any H_0.

        A baseline's H_0 is the same for every member, so the spread of the
        networks' ΔH is the spread of H; this is the active-learning score.
        """
        stack = np.stack([m.predict_network_gamma(graph) for m in self.members])
        return float(stack.std(0).max())
