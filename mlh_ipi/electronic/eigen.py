"""Generalised eigenproblem H c = e S c, band edges and the density matrix from occupied states.

Energies in the same unit as H (Hartree for DFT/model matrices); the public
``BandEdges`` reports eV.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from mlh_ipi.units import HARTREE


def solve(h: np.ndarray, s: np.ndarray, min_overlap_eig: float = 1e-7) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and S-orthonormal eigenvectors (columns) of (H, S).

    Raises ``ValueError`` if S is not positive definite (near-linear-dependent
    basis, usually atoms on top of each other).
    """
    if not np.all(np.isfinite(h)):
        raise ValueError("Hamiltonian has non-finite elements")
    smin = scipy.linalg.eigvalsh(s, subset_by_index=[0, 0])[0]
    if smin < min_overlap_eig:
        raise ValueError(f"overlap matrix is not positive definite (min eigenvalue {smin:.2e}); "
                         "atoms too close?")
    return scipy.linalg.eigh(h, s, driver="gvd")


def density_matrix(coeffs: np.ndarray, occupations: np.ndarray) -> np.ndarray:
    """D = C diag(n) C^T (real) or C n C^H; occupations include the spin factor (2 for closed shells)."""
    keep = occupations != 0
    c = coeffs[:, keep]
    return (c * occupations[keep]) @ c.conj().T


def energy_weighted_density_matrix(coeffs: np.ndarray, energies: np.ndarray,
                                   occupations: np.ndarray) -> np.ndarray:
    """W = C diag(n e) C^T, the Pulay (overlap-derivative) term of the forces."""
    return density_matrix(coeffs, occupations * energies)


def insulator_occupations(nmo: int, nelectron: int) -> np.ndarray:
    """Closed-shell integer occupations (2 per state); odd electron counts are rejected."""
    if nelectron % 2:
        raise ValueError(f"odd electron count {nelectron}: closed-shell occupations need smearing or spin")
    nocc = nelectron // 2
    if nocc > nmo:
        raise ValueError(f"{nelectron} electrons do not fit in {nmo} orbitals")
    occ = np.zeros(nmo)
    occ[:nocc] = 2.0
    return occ


@dataclass(frozen=True)
class BandEdges:
    """Band edges in eV: VBM (highest occupied), CBM (lowest empty), gap = CBM - VBM."""

    vbm_ev: float
    cbm_ev: float

    @property
    def gap_ev(self) -> float:
        return self.cbm_ev - self.vbm_ev


def band_edges(energies_ha: np.ndarray, nelectron: int) -> BandEdges:
    """Edges from closed-shell filling of eigenvalues (Hartree; any shape, all k pooled)."""
    e = np.sort(np.ravel(energies_ha))
    nk = np.size(energies_ha) // np.shape(energies_ha)[-1] if np.ndim(energies_ha) > 1 else 1
    nocc = nelectron // 2 * nk
    return BandEdges(float(e[nocc - 1] * HARTREE), float(e[nocc] * HARTREE))
