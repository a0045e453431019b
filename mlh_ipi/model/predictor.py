"""A loaded Hamiltonian model: structure -> real-space blocks H_ij(R) or the Gamma matrix (Hartree).

``predict(graph)`` returns ``(pairs, blocks)`` in the same format as a label's
``overlap_pairs``/``overlap_blocks``: ``pairs`` (P, 5) int64 rows
``(i, j, R1, R2, R3)`` -- on-site ``(i, i, 0, 0, 0)`` first, then every directed
edge within ``cutoff_h`` in graph order -- and ``blocks`` a list of
``norb_i x norb_j`` float64 arrays in the ``OrbitalLayout`` order, so that

    H(k)_{mu nu} = sum_P exp(i k . (R . cell)) blocks[P]        (Bloch sum)

and ``predict_gamma`` is that sum at k = 0.

Baseline models (``model.config.baseline == "harris"``) predict ΔH = H − H_0;
``predict_gamma`` and ``gamma_vjp`` add H_0 and its geometry derivative
(``mlh_ipi.dft.harris``), so every caller gets the full Hamiltonian. ``predict``
returns the network's blocks (ΔH for such models): H_0 is only built at Γ.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from mlh_ipi.data.graphs import StructureGraph, build_graph
from mlh_ipi.dft.settings import DFTSettings, check_compatible
from mlh_ipi.model.batch import collate
from mlh_ipi.model.checkpoint import check_layout, load_model
from mlh_ipi.model.gamma import gamma_flat
from mlh_ipi.model.network import HamiltonianModel
from mlh_ipi.orbitals import OrbitalLayout


class HamiltonianPredictor:
    """Inference wrapper around a trained ``HamiltonianModel`` (no gradients, fixed dtype)."""

    def __init__(self, model: HamiltonianModel, settings: DFTSettings, metrics: dict | None = None,
                 dtype: torch.dtype = torch.float32):
        self.model = model.to(dtype).eval()
        self.settings = settings
        self.metrics = metrics or {}
        self.dtype = dtype

    @classmethod
    def load(cls, path: str | os.PathLike, layout: OrbitalLayout | None = None,
             settings: DFTSettings | None = None, dtype: torch.dtype = torch.float32,
             ) -> "HamiltonianPredictor":
        """Load a checkpoint; ``ValueError`` if ``layout``/``settings`` disagree with it."""
        model, ckpt = load_model(path, layout, settings, dtype)
        return cls(model, DFTSettings.from_dict(ckpt["settings"]), ckpt.get("metrics"), dtype)

    # --- properties ------------------------------------------------------
    @property
    def layout(self) -> OrbitalLayout:
        return self.model.layout

    @property
    def cutoff_h(self) -> float:
        return self.model.config.cutoff_h

    @property
    def cutoff_mp(self) -> float:
        return self.model.config.cutoff_mp

    def check(self, layout: OrbitalLayout | None = None, settings: DFTSettings | None = None) -> None:
        """``ValueError`` if ``layout``/``settings`` are not what the model was trained on."""
        if layout is not None:
            check_layout(self.layout, layout)
        if settings is not None:
            check_compatible(self.settings, settings)

    # --- graphs ------------------------------------------------------------
    def graph(self, symbols: Sequence[str], positions_a: np.ndarray, cell_a: np.ndarray) -> StructureGraph:
        """The structure graph at this model's cutoffs (positions and cell in Angstrom)."""
        return build_graph(symbols, positions_a, cell_a, self.layout, self.cutoff_h, self.cutoff_mp)

    def _checked(self, graph: StructureGraph) -> StructureGraph:
        if (abs(graph.cutoff_h - self.cutoff_h) > 1e-12 or abs(graph.cutoff_mp - self.cutoff_mp) > 1e-12):
            raise ValueError(f"graph built with cutoffs r_H={graph.cutoff_h}, r_mp={graph.cutoff_mp} A; "
                             f"this model needs r_H={self.cutoff_h}, r_mp={self.cutoff_mp} A "
                             "(use predictor.graph(...))")
        check_layout(self.layout, graph.layout.restricted_to(set(graph.symbols)), what="model")
        if graph.layout != self.layout:  # species indices must follow the model's element order
            elements = list(self.layout.elements)
            graph = StructureGraph(**{**graph.__dict__, "layout": self.layout,
                                      "species": np.array([elements.index(s) for s in graph.symbols])})
        return graph

    # --- prediction ----------------------------------------------------------
    @torch.no_grad()
    def predict_padded(self, graph: StructureGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pairs (P, 5), blocks (P, nmax, nmax), norb (N,))``: blocks zero-padded beyond ``norb``."""
        graph = self._checked(graph)
        out = self.model(collate([graph], self.dtype, with_targets=False))
        blocks = torch.cat([out["onsite"], out["offsite"]]).to(torch.float64).numpy()
        n = graph.natoms
        onsite = np.concatenate([np.arange(n)[:, None].repeat(2, 1), np.zeros((n, 3), np.int64)], 1)
        pairs = np.concatenate([onsite, graph.pairs]).astype(np.int64)
        return pairs, blocks, np.diff(graph.atom_offsets)

    def predict(self, graph: StructureGraph) -> tuple[np.ndarray, list[np.ndarray]]:
        """``(pairs, blocks)``: H_ii(0) and H_ij(R) in Hartree (see module docstring)."""
        pairs, padded, norb = self.predict_padded(graph)
        return pairs, [padded[p, :norb[i], :norb[j]] for p, (i, j) in enumerate(pairs[:, :2])]

    @property
    def baseline(self) -> str:
        """``""`` (the network predicts H) or ``"harris"`` (it predicts H − H_0)."""
        return self.model.config.baseline

    def harris_baseline(self, graph: StructureGraph, baseline=None):
        """The ``HarrisBaseline`` of the graph's geometry (``baseline`` if given), or None for plain models."""
        if not self.baseline:
            return None
        if baseline is None:
            from ase import Atoms

            from mlh_ipi.dft.harris import HarrisBaseline

            atoms = Atoms(list(graph.symbols), positions=graph.positions_a, cell=graph.cell_a, pbc=True)
            baseline = HarrisBaseline(atoms, self.settings)
        return baseline

    @torch.no_grad()
    def predict_network_gamma(self, graph: StructureGraph) -> np.ndarray:
        """The network's own Γ matrix (H, or ΔH for a baseline model; Hartree, exactly symmetric)."""
        graph = self._checked(graph)
        batch = collate([graph], self.dtype, with_targets=False)
        out = self.model(batch)
        flat = gamma_flat(batch, out["onsite"], out["offsite"], self.model.norb)
        return flat.to(torch.float64).numpy().reshape(graph.nao, graph.nao)

    def predict_gamma(self, graph: StructureGraph, baseline=None) -> np.ndarray:
        """``H^Gamma`` (nao x nao, Hartree, float64, exactly symmetric), H_0 included for baseline models.

        ``baseline``: a ``HarrisBaseline`` of this geometry to reuse (its H_0 is cached);
        built here when None and the model needs one.
        """
        h = self.predict_network_gamma(graph)
        base = self.harris_baseline(graph, baseline)
        return h if base is None else h + base.hamiltonian_ha()

    def gamma_vjp(self, graph: StructureGraph, weights: np.ndarray, baseline=None) -> np.ndarray:
        """d/dr_A of sum weights.H^Gamma, H_0 included for baseline models: (N, 3), **Hartree/Angstrom**."""
        return with_baseline_vjp(self.network_gamma_vjp(graph, weights),
                                 self.harris_baseline(graph, baseline), weights)

    def network_gamma_vjp(self, graph: StructureGraph, weights: np.ndarray) -> np.ndarray:
        """d/dr_A of sum_{mu nu} weights_{mu nu} H^Gamma_{mu nu}: (N, 3), **Hartree/Angstrom**.

        ``weights`` is a fixed nao x nao matrix (the energy's derivative dE/dH);
        reverse-mode autodiff through the network at the graph's fixed neighbour
        list (the envelopes make edges enter and leave the cutoffs smoothly).
        """
        graph = self._checked(graph)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (graph.nao, graph.nao):
            raise ValueError(f"weights shape {weights.shape} does not match the basis ({graph.nao} AOs)")
        batch = collate([graph], self.dtype, with_targets=False)
        positions = batch.positions.detach().clone().requires_grad_(True)
        batch.positions = positions
        frozen = [p.requires_grad for p in self.model.parameters()]
        for p in self.model.parameters():
            p.requires_grad_(False)
        try:
            with torch.enable_grad():
                out = self.model(batch)
                flat = gamma_flat(batch, out["onsite"], out["offsite"], self.model.norb)
                w = torch.as_tensor(weights.ravel(), dtype=flat.dtype)
                (grad,) = torch.autograd.grad(torch.dot(flat, w), positions)
        finally:
            for p, req in zip(self.model.parameters(), frozen):
                p.requires_grad_(req)
        return grad.to(torch.float64).numpy()


def with_baseline_vjp(grad_ha_a: np.ndarray, baseline, weights: np.ndarray) -> np.ndarray:
    """Add d/dr_A Tr[weights H_0] of a ``HarrisBaseline`` (None: nothing) to a network vjp.

    ``grad_ha_a``: (N, 3) Hartree/Angstrom; the baseline's term comes in Hartree/Bohr.
    """
    if baseline is None:
        return grad_ha_a
    from mlh_ipi.units import BOHR

    return grad_ha_a + baseline.vjp_ha_bohr(weights) / BOHR
