"""Several ``StructureGraph`` objects as one set of torch tensors (disjoint union of graphs)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import numpy as np
import torch

from mlh_ipi.data.graphs import StructureGraph


@dataclass
class GraphBatch:
    """Concatenated graphs. Positions/cells in Angstrom, targets in Hartree.

    Edge and node indices are global (offset per graph). ``ao_offset`` is each
    atom's AO offset *within its own structure*; ``gamma_base[g]`` is where
    structure ``g``'s flattened ``nao_g x nao_g`` Gamma matrix starts in the
    concatenated vector ``hamiltonian`` (length ``sum nao_g**2``).
    """

    positions: torch.Tensor      # (N, 3)
    cell: torch.Tensor           # (G, 3, 3)
    species: torch.Tensor        # (N,)
    node_graph: torch.Tensor     # (N,)
    ao_offset: torch.Tensor      # (N,)
    nao: torch.Tensor            # (G,)
    gamma_base: torch.Tensor     # (G,)
    edge_index: torch.Tensor     # (2, E) Hamiltonian edges
    shifts: torch.Tensor         # (E, 3) integer lattice translations (as float)
    edge_graph: torch.Tensor     # (E,)
    reverse: torch.Tensor        # (E,)
    mp_edge_index: torch.Tensor  # (2, M) message-passing edges
    mp_shifts: torch.Tensor      # (M, 3)
    mp_graph: torch.Tensor       # (M,)
    hamiltonian: torch.Tensor | None = None   # (sum nao^2,) flattened targets, Hartree

    @property
    def num_graphs(self) -> int:
        return int(self.cell.shape[0])

    def to(self, dtype: torch.dtype) -> "GraphBatch":
        """Floating tensors cast to ``dtype`` (indices untouched)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
        return GraphBatch(**out)


def collate(graphs: Sequence[StructureGraph], dtype: torch.dtype = torch.float32,
            with_targets: bool = True) -> GraphBatch:
    """Stack graphs into one ``GraphBatch`` (targets only if every graph has one)."""
    if not graphs:
        raise ValueError("empty batch")
    node_off = np.cumsum([0] + [g.natoms for g in graphs])
    edge_off = np.cumsum([0] + [g.num_edges for g in graphs])
    naos = np.array([g.nao for g in graphs], dtype=np.int64)
    gamma_base = np.concatenate([[0], np.cumsum(naos**2)[:-1]]).astype(np.int64)

    def cat(key):
        return np.concatenate([getattr(g, key) for g in graphs])

    def rep(counts):
        return torch.as_tensor(np.repeat(np.arange(len(graphs)), counts), dtype=torch.long)

    edge_index = np.concatenate([g.edge_index + node_off[k] for k, g in enumerate(graphs)], axis=1)
    mp_edge_index = np.concatenate([g.mp_edge_index + node_off[k] for k, g in enumerate(graphs)], axis=1)
    reverse = np.concatenate([g.reverse + edge_off[k] for k, g in enumerate(graphs)])
    hamiltonian = None
    if with_targets and all(g.hamiltonian_ha is not None for g in graphs):
        hamiltonian = torch.as_tensor(np.concatenate([g.hamiltonian_ha.ravel() for g in graphs]),
                                      dtype=dtype)
    return GraphBatch(
        positions=torch.as_tensor(cat("positions_a"), dtype=dtype),
        cell=torch.as_tensor(np.stack([g.cell_a for g in graphs]), dtype=dtype),
        species=torch.as_tensor(cat("species"), dtype=torch.long),
        node_graph=rep([g.natoms for g in graphs]),
        ao_offset=torch.as_tensor(np.concatenate([g.atom_offsets[:-1] for g in graphs]), dtype=torch.long),
        nao=torch.as_tensor(naos, dtype=torch.long),
        gamma_base=torch.as_tensor(gamma_base, dtype=torch.long),
        edge_index=torch.as_tensor(edge_index, dtype=torch.long),
        shifts=torch.as_tensor(np.concatenate([g.shifts for g in graphs]), dtype=dtype),
        edge_graph=rep([g.num_edges for g in graphs]),
        reverse=torch.as_tensor(reverse, dtype=torch.long),
        mp_edge_index=torch.as_tensor(mp_edge_index, dtype=torch.long),
        mp_shifts=torch.as_tensor(np.concatenate([g.mp_shifts for g in graphs]), dtype=dtype),
        mp_graph=rep([g.mp_edge_index.shape[1] for g in graphs]),
        hamiltonian=hamiltonian,
    )
