"""Equivariant layers: node interactions (message passing) and pair (edge) features.

Written with e3nn 0.4.4 primitives. Every layer is O(3)-equivariant: features
are ``o3.Irreps``, geometry enters only through spherical harmonics of edge
vectors (parity ``(-1)^l``) and invariant radial embeddings.
"""
from __future__ import annotations

import torch
from torch import nn

from e3nn import o3
from e3nn.nn import Gate

from mlh_ipi.model.radial import MLP


def uvu_instructions(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, targets: o3.Irreps,
                     ) -> tuple[o3.Irreps, list[tuple]]:
    """Channel-wise ("uvu") products ``irreps_in x irreps_sh`` restricted to irrep types in ``targets``.

    Returns the (sorted) output irreps and the ``o3.TensorProduct`` instructions.
    """
    wanted = {ir for _, ir in targets}
    out, instr = [], []
    for i, (mul, ir_in) in enumerate(irreps_in):
        for j, (_, ir_sh) in enumerate(irreps_sh):
            for ir_out in ir_in * ir_sh:
                if ir_out in wanted:
                    instr.append((i, j, len(out), "uvu", True))
                    out.append((mul, ir_out))
    irreps_out, perm, _ = o3.Irreps(out).sort()
    instr = sorted(((a, b, perm[k], m, t) for a, b, k, m, t in instr), key=lambda x: x[2])
    return irreps_out, instr


def gate_for(irreps_out: o3.Irreps) -> Gate:
    """Gate nonlinearity producing ``irreps_out``: SiLU/tanh on scalars, sigmoid gates on l > 0."""
    irreps_out = o3.Irreps(irreps_out)
    scalars = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l == 0])
    gated = o3.Irreps([(m, ir) for m, ir in irreps_out if ir.l > 0])
    acts = [nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars]
    gates = o3.Irreps([(gated.num_irreps, "0e")]) if gated.num_irreps else o3.Irreps("")
    return Gate(scalars, acts, gates, [torch.sigmoid] * len(gates), gated)


class Interaction(nn.Module):
    """One message-passing layer (NequIP-style convolution + gate + residual).

    ``m_i = sum_j TP(W h_j, Y(r_ij); w(|r_ij|) s(|r_ij|)) / sqrt(avg_num_neighbors)``
    (``s``: the smooth switch to zero at the cutoff, ``radial.SmoothSwitch``);
    ``h_i' = Gate(W' m_i + SelfInteraction(h_i, species_i)) (+ h_i)``.
    """

    def __init__(self, irreps_in: o3.Irreps, irreps_out: o3.Irreps, irreps_sh: o3.Irreps,
                 num_species: int, num_basis: int, radial_hidden: int, avg_num_neighbors: float):
        super().__init__()
        self.irreps_in, self.irreps_out = o3.Irreps(irreps_in), o3.Irreps(irreps_out)
        self.norm = float(avg_num_neighbors) ** -0.5
        self.gate = gate_for(self.irreps_out)
        irreps_mid, instr = uvu_instructions(self.irreps_in, irreps_sh, self.gate.irreps_in)
        self.linear_up = o3.Linear(self.irreps_in, self.irreps_in)
        self.tp = o3.TensorProduct(self.irreps_in, irreps_sh, irreps_mid, instr,
                                   shared_weights=False, internal_weights=False)
        self.radial = MLP([num_basis, radial_hidden, radial_hidden, self.tp.weight_numel])
        self.linear_down = o3.Linear(irreps_mid, self.gate.irreps_in)
        self.self_interaction = o3.FullyConnectedTensorProduct(
            self.irreps_in, o3.Irreps(f"{num_species}x0e"), self.gate.irreps_in)
        self.residual = self.irreps_in == self.irreps_out

    def forward(self, h: torch.Tensor, species_onehot: torch.Tensor, edge_index: torch.Tensor,
                sh: torch.Tensor, rbf: torch.Tensor, switch: torch.Tensor) -> torch.Tensor:
        i, j = edge_index
        msg = self.tp(self.linear_up(h).index_select(0, j), sh, self.radial(rbf) * switch[:, None])
        agg = msg.new_zeros((h.shape[0], msg.shape[1])).index_add_(0, i, msg) * self.norm
        out = self.gate(self.linear_down(agg) + self.self_interaction(h, species_onehot))
        return out + h if self.residual else out


class PairFeatures(nn.Module):
    """Equivariant features of a directed pair ``(i, j, R)`` from both end nodes and the bond.

    ``x_ij = W_a h_i + W_b h_j`` (irreps ``irreps_edge``), optionally refined by
    ``num_layers`` gated layers ``x <- x + Gate(W TP(x, Y(r_ij); w) + W' x)``;
    the output is ``(TP(x_ij, Y(r_ij); w(rbf(r_ij), s_i, s_j)), x_ij)`` where
    the product is restricted to the irrep types in ``targets`` (those the
    orbital blocks need) and its channel weights ``w`` come from an MLP of the
    radial basis and the scalar channels ``s`` of both end nodes, so coupling
    strengths depend nonlinearly on the distance and on both environments.
    """

    def __init__(self, irreps_node: o3.Irreps, irreps_edge: o3.Irreps, irreps_sh: o3.Irreps,
                 targets: o3.Irreps, num_basis: int, num_scalars: int, radial_hidden: int,
                 num_layers: int = 0):
        super().__init__()
        self.irreps_node, self.irreps_edge = o3.Irreps(irreps_node), o3.Irreps(irreps_edge)
        self.num_scalars = num_scalars
        self.lin_i = o3.Linear(self.irreps_node, self.irreps_edge)
        self.lin_j = o3.Linear(self.irreps_node, self.irreps_edge)
        n_inv = num_basis + 2 * num_scalars
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            gate = gate_for(self.irreps_edge)
            irreps_mid, instr = uvu_instructions(self.irreps_edge, irreps_sh, gate.irreps_in)
            tp = o3.TensorProduct(self.irreps_edge, irreps_sh, irreps_mid, instr,
                                  shared_weights=False, internal_weights=False)
            self.layers.append(nn.ModuleDict({
                "tp": tp,
                "weights": MLP([n_inv, radial_hidden, radial_hidden, tp.weight_numel]),
                "linear_tp": o3.Linear(irreps_mid, gate.irreps_in),
                "linear_skip": o3.Linear(self.irreps_edge, gate.irreps_in),
                "gate": gate,
            }))
        irreps_mid, instr = uvu_instructions(self.irreps_edge, irreps_sh, targets)
        self.tp = o3.TensorProduct(self.irreps_edge, irreps_sh, irreps_mid, instr,
                                   shared_weights=False, internal_weights=False)
        self.weights = MLP([n_inv, radial_hidden, radial_hidden, self.tp.weight_numel])
        self.irreps_out = [irreps_mid, self.irreps_edge]

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, sh: torch.Tensor,
                rbf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(TP(x, Y; w), x)`` per edge, with irreps ``self.irreps_out``."""
        i, j = edge_index
        x = self.lin_i(h).index_select(0, i) + self.lin_j(h).index_select(0, j)
        s = h[:, :self.num_scalars]
        invariants = torch.cat([rbf, s.index_select(0, i), s.index_select(0, j)], dim=1)
        for layer in self.layers:
            y = layer["tp"](x, sh, layer["weights"](invariants))
            x = x + layer["gate"](layer["linear_tp"](y) + layer["linear_skip"](x))
        return self.tp(x, sh, self.weights(invariants)), x

