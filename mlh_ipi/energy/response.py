"""How E_KS[D(H, S)] responds to the matrices that fix the density: the missing force term.

The MLH energy is E(R) = E_KS[D(H_ML(R), S(R)), R], where D is built from the
eigenvectors of the *predicted* Hamiltonian. Its exact derivative is

    dE/dR = dE_KS/dR|_D + Tr(F dD/dR),        F = dE_KS/dD  (the KS matrix at D)

At the SCF density (F = H) the second term reduces to the Pulay term
-Tr(W dS/dR) with W = C diag(f e) C^T, which is all that the standard force
expression contains. At a non-self-consistent density F != H and
first-order perturbation theory of H c = e S c gives

    Tr(F dD) - sigma dS_ent = Tr(G dH) - Tr(W_eff dS)

with, in the eigenbasis (F~ = C^T F C, occupations f including the spin factor):

    G~_nm     = F~_nm K_nm,   K_nm = (f_n - f_m) / (e_n - e_m)          (f'(e_n) if degenerate)
    W_eff~_nm = F~_nm L_nm,   L_nm = (f_n e_n - f_m e_m) / (e_n - e_m)  (f_n + e_n f'_n if degenerate)

and on the diagonal, where Fermi-Dirac occupations move with the states and the
chemical potential keeps N fixed (the -sigma dS_ent term of the Mermin free
energy included):

    b_n = (F~_nn - e_n) f'_n - f'_n sum_m (F~_mm - e_m) f'_m / sum_m f'_m
    G~_nn = b_n,   W_eff~_nn = F~_nn f_n + e_n b_n

G = C G~ C^T and W_eff = C W_eff~ C^T are symmetric AO matrices. For integer
occupations f' = 0: G couples occupied and empty states only,
G~_ov = 2 F~_ov / (e_o - e_v), and W_eff = 1/2 D F D + (its occupied-empty part).
When F = H (F~ = diag(e)) G = 0 and W_eff = C diag(f e) C^T, the usual W.

The force is then F_A = -[dE_KS/dR_A|_D (with W_eff in the Pulay term) + Tr(G dH_ML/dR_A)];
the last term needs the model's own geometry derivative (``gamma_vjp``).
Units: whatever H and F are in (Hartree here); G is dimensionless, W_eff has H's unit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlh_ipi.energy.occupations import Occupations

DEGENERATE_HA = 1e-8  # eigenvalue differences below this use the derivative limit


@dataclass(frozen=True)
class DensityResponse:
    """``G`` (dE/dH, dimensionless) and ``W_eff`` (replaces W in the Pulay term), AO basis."""

    g: np.ndarray
    w_eff: np.ndarray
    max_ov_coupling_ha: float   # max |F~_nm| between states of different occupation: 0 at SCF


def fermi_derivative(mo_energy_ha: np.ndarray, occ: Occupations) -> np.ndarray:
    """df_n/de_n (per Hartree, spin factor included): 0 for integer occupations."""
    if occ.sigma_ha == 0.0:
        return np.zeros_like(mo_energy_ha)
    p = np.clip(occ.occ / 2.0, 0.0, 1.0)
    return -2.0 * p * (1.0 - p) / occ.sigma_ha


def density_response(mo_energy_ha: np.ndarray, mo_coeff: np.ndarray, occ: Occupations,
                     fock_ha: np.ndarray) -> DensityResponse:
    """``G`` and ``W_eff`` for the eigenpairs (e, C) of (H, S), occupations ``occ`` and KS matrix F[D].

    Integer occupations need a gap between the last occupied and the first empty
    state; a (near-)degeneracy there is an error (use Fermi-Dirac smearing).
    """
    e = np.asarray(mo_energy_ha, dtype=np.float64)
    c = np.asarray(mo_coeff, dtype=np.float64)
    f = np.asarray(occ.occ, dtype=np.float64)
    fp = fermi_derivative(e, occ)
    if occ.sigma_ha == 0.0:
        nocc = int(np.count_nonzero(f))
        if nocc < len(e) and e[nocc] - e[nocc - 1] < 1e-6:
            raise ValueError(f"no gap between the highest occupied ({e[nocc - 1]:.6f} Ha) and lowest "
                             f"empty ({e[nocc]:.6f} Ha) state: integer occupations make E non-differentiable; "
                             "use Fermi-Dirac smearing")
    ft = c.T @ fock_ha @ c
    ft = 0.5 * (ft + ft.T)

    de = e[:, None] - e[None, :]
    degenerate = np.abs(de) < DEGENERATE_HA
    safe = np.where(degenerate, 1.0, de)
    k = np.where(degenerate, 0.5 * (fp[:, None] + fp[None, :]), (f[:, None] - f[None, :]) / safe)
    fe = f * e
    lim = f + e * fp
    l = np.where(degenerate, 0.5 * (lim[:, None] + lim[None, :]), (fe[:, None] - fe[None, :]) / safe)
    g_mo = ft * k
    w_mo = ft * l
    a = (np.diag(ft) - e) * fp
    sum_fp = fp.sum()
    b = a - fp * (a.sum() / sum_fp) if sum_fp != 0.0 else np.zeros_like(e)
    np.fill_diagonal(g_mo, b)
    np.fill_diagonal(w_mo, np.diag(ft) * f + e * b)

    g = c @ g_mo @ c.T
    w = c @ w_mo @ c.T
    differs = np.abs(f[:, None] - f[None, :]) > 1e-12
    coupling = float(np.abs(ft[differs]).max()) if differs.any() else 0.0
    return DensityResponse(g=0.5 * (g + g.T), w_eff=0.5 * (w + w.T), max_ov_coupling_ha=coupling)
