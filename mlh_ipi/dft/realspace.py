"""Image-resolved real-space matrices X_ij(R) = <phi_i(r - r_i) | X | phi_j(r - r_j - R)>.

``R`` is an integer lattice translation (in units of the cell vectors). Blocks
are ``norb_i x norb_j`` in the ``OrbitalLayout`` order. ``pairs`` rows are
``(i, j, R1, R2, R3)``; the Bloch sum convention is

    X(k)_{mu nu} = sum_R exp(i k . R_cart) X_{mu nu}(R)      (k in 1/Bohr, cartesian)

which is PySCF's ``cell.pbc_intor(..., kpts=k)`` convention.

The overlap and kinetic blocks are exact analytic two-centre integrals between
the cell and a translated copy of it (``gto.intor_cross``), so no k-mesh and no
aliasing are involved.
"""
from __future__ import annotations

import itertools

import numpy as np
from pyscf import gto as molgto
from pyscf.pbc import gto

# A block is kept when its largest |S| exceeds this. With the short-range MOLOPT
# bases, 1e-8 keeps every pair whose overlap affects eigenvalues above ~1e-6 Ha.
OVERLAP_BLOCK_THRESHOLD = 1e-8


def candidate_translations(cell: gto.Cell, r_max_bohr: float) -> np.ndarray:
    """Integer translations R for which some atom pair is closer than ``r_max_bohr``."""
    a = cell.lattice_vectors()
    coords = cell.atom_coords()
    # |n_k| is bounded by (r_max + cell extent) / (spacing of lattice planes k) = (...) * |b_k|
    b = np.linalg.inv(a).T  # rows: reciprocal vectors / 2pi
    reach = r_max_bohr + np.linalg.norm(coords.max(0) - coords.min(0))
    nmax = [int(np.ceil(reach * np.linalg.norm(b[k]))) for k in range(3)]
    out = []
    for n in itertools.product(*(range(-m, m + 1) for m in nmax)):
        shift = np.asarray(n) @ a
        d = coords[:, None, :] - (coords[None, :, :] + shift)
        if np.min(np.einsum("ijk,ijk->ij", d, d)) < r_max_bohr**2:
            out.append(n)
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def pair_range_bohr(cell: gto.Cell, threshold: float = OVERLAP_BLOCK_THRESHOLD) -> float:
    """A safe upper bound on the distance at which two basis functions overlap above ``threshold``.

    Two Gaussians with the most diffuse exponent ``a`` overlap as exp(-a d^2 / 2)
    at distance ``d``; prefactors are bounded by 1 for normalised functions.
    """
    amin = min(cell.bas_exp(ib).min() for ib in range(cell.nbas))
    return float(np.sqrt(2.0 * np.log(1.0 / threshold) / amin)) + 1.0


def two_centre_blocks(cell: gto.Cell, intor: str = "int1e_ovlp",
                      translations: np.ndarray | None = None) -> dict[tuple[int, int, int], np.ndarray]:
    """Dense AO matrices X(R) (nao x nao) for each translation, by exact two-centre integrals."""
    mol0 = cell.to_mol()
    if translations is None:
        translations = candidate_translations(cell, pair_range_bohr(cell))
    a = cell.lattice_vectors()
    coords = mol0.atom_coords()
    out = {}
    for n in translations:
        molr = mol0.set_geom_(coords + np.asarray(n) @ a, unit="Bohr", inplace=False)
        out[tuple(int(x) for x in n)] = molgto.intor_cross(intor, mol0, molr)
    return out


def split_blocks(matrices: dict[tuple[int, int, int], np.ndarray], offsets: np.ndarray,
                 threshold: float = OVERLAP_BLOCK_THRESHOLD,
                 keep_from: dict[tuple[int, int, int], np.ndarray] | None = None):
    """Cut dense X(R) into atom-pair blocks; keep (i, j, R) where ``max|keep_from(R)_ij| > threshold``.

    Returns ``pairs`` (P, 5) int64 and a list of P blocks.
    """
    keep_from = matrices if keep_from is None else keep_from
    n = len(offsets) - 1
    pairs, blocks = [], []
    for R, mat in matrices.items():
        ref = keep_from[R]
        for i in range(n):
            si = slice(offsets[i], offsets[i + 1])
            for j in range(n):
                sj = slice(offsets[j], offsets[j + 1])
                if np.abs(ref[si, sj]).max() > threshold:
                    pairs.append((i, j) + R)
                    blocks.append(mat[si, sj])
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 5), blocks


def overlap_blocks(cell: gto.Cell, offsets: np.ndarray, threshold: float = OVERLAP_BLOCK_THRESHOLD):
    """Exact overlap blocks S_ij(R) above ``threshold``: ``(pairs, blocks)``."""
    return split_blocks(two_centre_blocks(cell, "int1e_ovlp"), offsets, threshold)
