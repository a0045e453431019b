"""Orbital blocks from equivariant features: Clebsch-Gordan assembly, read from the ``OrbitalLayout``.

For a block between an atom of element ``A`` (radial functions ``l_a``) and one
of element ``B`` (``l_b``), every pair of radial functions ``(a, b)`` gets one
feature channel per ``L = |l_a - l_b| .. l_a + l_b`` with parity
``(-1)^(l_a + l_b)``; the ``(2 l_a + 1) x (2 l_b + 1)`` sub-block is

    B_e3nn[m_a, m_b] = sqrt((2l_a+1)(2l_b+1)) sum_L sum_M C^{l_a l_b L}_{m_a m_b M} x^L_M

(``C`` = e3nn's ``wigner_3j``) which transforms as ``D_la(R) B D_lb(R)^T``, and
in the layout's PySCF order it is ``Q_la^T B_e3nn Q_lb``
(``mlh_ipi.model.real_harmonics``). All of this is linear in the features, so
it is folded into one constant matrix per element pair,
``block.ravel() = x @ W[A, B]`` with ``W`` of shape (irreps dim, n_A n_B).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from e3nn import o3

from mlh_ipi.model.real_harmonics import pyscf_from_e3nn
from mlh_ipi.orbitals import OrbitalLayout


def orbital_irrep(l: int) -> o3.Irrep:
    """The O(3) irrep of a real orbital of angular momentum ``l`` (parity ``(-1)^l``)."""
    return o3.Irrep(l, (-1) ** l)


def layout_wigner_d(layout: OrbitalLayout, symbol: str, rotation: np.ndarray) -> np.ndarray:
    """Block-diagonal D of an atom's orbitals in layout order for a (proper or improper) 3x3 rotation.

    An orbital block ``H_ij`` of the rotated structure is ``D_i H_ij D_j^T``.
    """
    R = torch.as_tensor(np.asarray(rotation), dtype=torch.float64)
    blocks = []
    for l in layout.shells[symbol]:
        D = orbital_irrep(l).D_from_matrix(R).numpy()
        Q = pyscf_from_e3nn(l)
        blocks.append(Q.T @ D @ Q)
    n = sum(b.shape[0] for b in blocks)
    out, k = np.zeros((n, n)), 0
    for b in blocks:
        out[k:k + b.shape[0], k:k + b.shape[0]] = b
        k += b.shape[0]
    return out


@dataclass(frozen=True)
class BlockSpec:
    """Irreps that parametrise one ``(l_a, ..) x (l_b, ..)`` block, and the constant map to it."""

    irreps: o3.Irreps          # sorted, simplified: e.g. 2x0e+1x1o+2x1e+1x2e
    matrix: np.ndarray         # (irreps.dim, n_rows * n_cols) float64
    n_rows: int
    n_cols: int


def block_spec(ls_rows: tuple[int, ...], ls_cols: tuple[int, ...]) -> BlockSpec:
    """The CG map from features to an ``n_rows x n_cols`` block (layout order, row-major)."""
    paths = []  # (row slice start, l_a, col start, l_b, L, parity)
    r0 = 0
    for la in ls_rows:
        c0 = 0
        for lb in ls_cols:
            for L in range(abs(la - lb), la + lb + 1):
                paths.append((r0, la, c0, lb, L, (-1) ** (la + lb)))
            c0 += 2 * lb + 1
        r0 += 2 * la + 1
    n_rows, n_cols = r0, c0
    counts: dict[tuple[int, int], int] = {}
    for *_, L, p in paths:
        counts[(L, p)] = counts.get((L, p), 0) + 1
    irreps = o3.Irreps([(n, key) for key, n in counts.items()]).sort().irreps.simplify()
    starts, k = {}, 0
    for mul, ir in irreps:
        starts[(ir.l, ir.p)] = k
        k += mul * ir.dim
    used = {key: 0 for key in starts}
    W = np.zeros((irreps.dim, n_rows * n_cols))
    for r0, la, c0, lb, L, p in paths:
        channel = used[(L, p)]
        used[(L, p)] += 1
        f0 = starts[(L, p)] + channel * (2 * L + 1)
        C = o3.wigner_3j(la, lb, L, dtype=torch.float64).numpy()
        C = C * np.sqrt((2 * la + 1) * (2 * lb + 1))
        Qa, Qb = pyscf_from_e3nn(la), pyscf_from_e3nn(lb)
        for M in range(2 * L + 1):
            sub = Qa.T @ C[:, :, M] @ Qb
            full = np.zeros((n_rows, n_cols))
            full[r0:r0 + 2 * la + 1, c0:c0 + 2 * lb + 1] = sub
            W[f0 + M] += full.ravel()
    return BlockSpec(irreps=irreps, matrix=W, n_rows=n_rows, n_cols=n_cols)


class BlockHead(nn.Module):
    """Per-type linear heads (features -> block irreps) and the CG maps, writing padded blocks.

    ``types`` are element indices (on-site: ``A``) or element pairs (off-site:
    ``(A, B)``). ``forward(type_index, x_1, x_2, ...)`` (one tensor per entry
    of ``irreps_in``; their heads are summed) returns ``(n, nmax, nmax)``
    blocks, each ``n_A x n_B`` in the top-left corner and zero elsewhere.
    """

    def __init__(self, irreps_in: o3.Irreps | list[o3.Irreps],
                 shells: list[tuple[tuple[int, ...], tuple[int, ...]]], nmax: int):
        super().__init__()
        irreps_in = [irreps_in] if isinstance(irreps_in, (str, o3.Irreps)) else list(irreps_in)
        self.nmax = nmax
        self.heads = nn.ModuleList()
        self.shapes: list[tuple[int, int]] = []
        for t, (ls_a, ls_b) in enumerate(shells):
            spec = block_spec(ls_a, ls_b)
            self.heads.append(nn.ModuleList([o3.Linear(irr, spec.irreps) for irr in irreps_in]))
            # derived from the layout, so not saved in checkpoints
            self.register_buffer(f"cg_{t}", torch.as_tensor(spec.matrix, dtype=torch.get_default_dtype()),
                                 persistent=False)
            self.shapes.append((spec.n_rows, spec.n_cols))

    def forward(self, type_index: torch.Tensor, *xs: torch.Tensor) -> torch.Tensor:
        n = xs[0].shape[0]
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        for t, heads in enumerate(self.heads):
            idx = torch.nonzero(type_index == t).squeeze(-1)
            if idx.numel() == 0:
                continue
            start, count = int(idx[0]), idx.numel()
            if int(idx[-1]) - start + 1 == count:  # contiguous (graphs sort edges by type): views
                inputs = [x.narrow(0, start, count) for x in xs]
            else:
                inputs = [x.index_select(0, idx) for x in xs]
            n_a, n_b = self.shapes[t]
            coeffs = sum(head(x) for head, x in zip(heads, inputs))
            blk = (coeffs @ getattr(self, f"cg_{t}")).view(-1, n_a, n_b)
            parts.append((idx, nn.functional.pad(blk, (0, self.nmax - n_b, 0, self.nmax - n_a))))
        if sum(p[0].numel() for p in parts) == n and all(
                int(a[0][-1]) < int(b[0][0]) for a, b in zip(parts[:-1], parts[1:])) and all(
                int(p[0][-1]) - int(p[0][0]) + 1 == p[0].numel() for p in parts):
            return torch.cat([p[1] for p in parts]) if parts else xs[0].new_zeros((0, self.nmax, self.nmax))
        out = xs[0].new_zeros((n, self.nmax, self.nmax))
        for idx, blk in parts:
            out = out.index_copy(0, idx, blk)
        return out
