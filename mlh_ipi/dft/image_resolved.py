"""Image-resolved Kohn-Sham blocks H_ij(R) from a converged Gamma-point density, exactly.

Route: the Gamma-point density rho(r) of the cell is also the density of an
``n x n x n`` supercell whose density matrix repeats D in every image block,

    D_S[(T, mu), (T', nu)] = D[mu, nu]        (T, T' image indices)

because sum_{T,T'} phi_mu(r - T) phi_nu(r - T') summed over supercell images
runs over all lattice translations. The supercell's Gamma KS matrix built from
D_S with the *same* multigrid numerics then has blocks

    F_S[(0, mu), (T, nu)] = sum_m H_mu,nu(T + n m),

i.e. the image-resolved H(R) for |R_k| <= n//2 without aliasing as long as the
Hamiltonian range is below n//2 cells. ``sum_T F_S[0, T]`` equals the cell's
Gamma Fock matrix for any n (tested to 1e-7 Ha).

Cost: one KS-matrix build on n^3 times the atoms; meant for validation and
small cells (the training labels use the Gamma sum, see ``label.py``).
"""
from __future__ import annotations

import itertools

import numpy as np
from ase import Atoms

from mlh_ipi.dft.cell import build_cell
from mlh_ipi.dft.scf import make_mean_field
from mlh_ipi.dft.settings import DFTSettings


def image_resolved_hamiltonian(atoms: Atoms, settings: DFTSettings, density_matrix: np.ndarray,
                               n: int | tuple[int, int, int] = 3) -> dict[tuple[int, int, int], np.ndarray]:
    """``{R: H(R)}`` (nao x nao, Hartree) for |R_k| <= n_k//2 from the cell's Gamma density matrix.

    ``n`` is the supercell size, one odd integer or one per lattice direction;
    H(R) is alias-free when the Hamiltonian range is below n_k//2 cells.
    """
    if not settings.is_gamma:
        raise ValueError("image-resolved H from a Gamma density needs Gamma-point settings")
    ns = (n,) * 3 if np.isscalar(n) else tuple(int(x) for x in n)
    if len(ns) != 3 or any(x < 1 or x % 2 == 0 for x in ns):
        raise ValueError(f"supercell size must be odd and positive in each direction, got {n}")
    small = build_cell(atoms, settings)
    nao = small.nao_nr()
    if density_matrix.shape != (nao, nao):
        raise ValueError(f"density matrix shape {density_matrix.shape} != ({nao}, {nao})")
    sup_atoms = atoms.repeat(ns)  # image-major: translations (m0, m1, m2), m2 fastest
    sup = build_cell(sup_atoms, settings)
    sup.mesh = np.asarray(small.mesh) * np.asarray(ns)  # identical real-space grid spacing
    sup.build(False, False)
    images = list(itertools.product(*(range(x) for x in ns)))
    d_sup = np.tile(density_matrix, (len(images), len(images)))
    mf = make_mean_field(sup, settings)
    fock = np.asarray(mf.get_fock(dm=d_sup))
    out = {}
    for t, m in enumerate(images):
        R = tuple(int(x if x <= nk // 2 else x - nk) for x, nk in zip(m, ns))
        out[R] = fock[:nao, t * nao:(t + 1) * nao]
    return out


def bloch_sum(matrices: dict[tuple[int, int, int], np.ndarray], kpt_frac: np.ndarray) -> np.ndarray:
    """X(k) = sum_R exp(2 pi i k_frac . R) X(R) for a fractional k-point."""
    k = np.asarray(kpt_frac, dtype=float)
    return sum(np.exp(2j * np.pi * k @ np.asarray(R)) * X for R, X in matrices.items())


__all__ = ["image_resolved_hamiltonian", "bloch_sum"]
