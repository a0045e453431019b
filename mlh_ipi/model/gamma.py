"""Gamma-point matrices from real-space blocks: ``H^Gamma_ij = delta_ij H_ii(0) + sum_R H_ij(R)``.

The DFT labels are Gamma-point Kohn-Sham matrices of the supercell, so the model
is trained through this sum. Vectorised with ``index_add`` over all edges of a
batch; every structure's matrix is flattened row-major and concatenated.
"""
from __future__ import annotations

import torch

from mlh_ipi.model.batch import GraphBatch


def _scatter_indices(batch: GraphBatch, rows_atom: torch.Tensor, cols_atom: torch.Tensor,
                     graph: torch.Tensor, norb_of_atom: torch.Tensor, nmax: int):
    """Flat target index of every padded block element, and the mask of real (unpadded) ones."""
    ar = torch.arange(nmax, device=rows_atom.device)
    nao = batch.nao.index_select(0, graph)
    rows = batch.ao_offset.index_select(0, rows_atom)[:, None] + ar
    cols = batch.ao_offset.index_select(0, cols_atom)[:, None] + ar
    flat = (batch.gamma_base.index_select(0, graph)[:, None, None]
            + rows[:, :, None] * nao[:, None, None] + cols[:, None, :])
    n_r = norb_of_atom.index_select(0, rows_atom)
    n_c = norb_of_atom.index_select(0, cols_atom)
    if bool((norb_of_atom == nmax).all()):
        return flat.reshape(-1), None
    mask = (ar[None, :, None] < n_r[:, None, None]) & (ar[None, None, :] < n_c[:, None, None])
    return flat.reshape(-1), mask.reshape(-1)


def gamma_flat(batch: GraphBatch, onsite: torch.Tensor, offsite: torch.Tensor,
               norb: torch.Tensor) -> torch.Tensor:
    """Concatenated, row-major flattened ``H^Gamma`` of every structure (length ``sum nao^2``).

    ``norb`` (n_elements,) is the orbital count per element index. The result is
    symmetrised per structure, which is exact bookkeeping (the blocks are
    already Hermitian pairwise) and removes summation-order round-off.
    """
    nmax = onsite.shape[-1]
    total = int((batch.nao**2).sum())
    out = onsite.new_zeros(total)
    norb_atom = norb.index_select(0, batch.species)
    atoms = torch.arange(batch.species.shape[0], device=onsite.device)
    for rows_atom, cols_atom, graph, blocks in (
            (atoms, atoms, batch.node_graph, onsite),
            (batch.edge_index[0], batch.edge_index[1], batch.edge_graph, offsite)):
        if blocks.shape[0] == 0:
            continue
        idx, mask = _scatter_indices(batch, rows_atom, cols_atom, graph, norb_atom, nmax)
        vals = blocks.reshape(-1)
        if mask is not None:
            idx, vals = idx[mask], vals[mask]
        out = out.index_add(0, idx, vals)
    parts = []
    for g in range(batch.num_graphs):
        n = int(batch.nao[g])
        m = out[int(batch.gamma_base[g]):int(batch.gamma_base[g]) + n * n].view(n, n)
        parts.append((0.5 * (m + m.T)).reshape(-1))
    return torch.cat(parts)


def split_gamma(batch: GraphBatch, flat: torch.Tensor) -> list[torch.Tensor]:
    """The per-structure ``nao x nao`` matrices of a concatenated flat vector."""
    out = []
    for g in range(batch.num_graphs):
        n, b = int(batch.nao[g]), int(batch.gamma_base[g])
        out.append(flat[b:b + n * n].view(n, n))
    return out
