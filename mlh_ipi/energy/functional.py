"""The Kohn-Sham energy functional E_KS[D] and its forces, evaluated by PySCF at a given density.

No SCF: the density matrix comes from the eigenvectors of a (predicted)
Hamiltonian. Energy and forces go through PySCF's own code paths
(``energy_tot``, ``pbc.grad.rks``) with exactly the DFT backend's settings, so
feeding the converged DFT Hamiltonian reproduces the SCF energy and forces.

What the forces are
-------------------
Two force modes (``FORCE_MODES``):

* ``"consistent"`` (default): the exact derivative of the MLH energy surface
  E(R) = E_KS[D(H_ML(R), S(R)), R],

      F_A = -[ dE_KS/dR_A|_D - Tr(W_eff dS/dR_A) + Tr(G dH_ML/dR_A) ]

  with W_eff and G from first-order perturbation theory of H c = e S c
  (``mlh_ipi.energy.response``; they need the KS matrix F[D], whose density
  pass is shared with the gradient's, ``mlh_ipi.energy.multigrid_pass``) and Tr(G dH_ML/dR) from the model by reverse-mode autodiff
  (``hamiltonian_vjp``). Optimisers and MD need this: these forces are -dE/dR
  of the energy they are served with. Without ``hamiltonian_vjp`` H is held
  fixed (right for a DFT Hamiltonian, which does not depend on a model).
* ``"hellmann_feynman"``: the standard KS force expression at the given density,

      F_A = -[ Tr(D dh/dR_A) + Tr(D dV_Hxc[rho]/dR_A)|_basis - Tr(W dS/dR_A) + dE_nn/dR_A ]

  with W = sum_n f_n e_n c_n c_n^T. It drops Tr[(F[D] - H_ML) dD/dR], which is
  first order in the Hamiltonian error, so it is not the gradient of the
  served energy (measured: ``benchmarks/force_consistency.py``).

At the SCF density both are exactly -dE/dR and agree.

Units: Hartree and Bohr inside (PySCF), eV and eV/Angstrom in ``EnergyForces``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from ase import Atoms

from mlh_ipi.dft.cell import build_cell
from mlh_ipi.dft.scf import make_mean_field
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.electronic.eigen import density_matrix, solve
from mlh_ipi.energy.occupations import Occupations, occupations
from mlh_ipi.energy.response import density_response
from mlh_ipi.units import BOHR, HARTREE, HARTREE_PER_BOHR

FORCE_MODES = ("consistent", "hellmann_feynman")


@dataclass
class EnergyForces:
    """E_KS at the density of a given Hamiltonian, in eV and eV/Angstrom."""

    energy_ev: float                 # E_KS[D] (internal energy)
    free_energy_ev: float            # E_KS[D] - T S (equal to energy_ev without smearing)
    forces_ev_per_a: np.ndarray | None
    mo_energy_ha: np.ndarray
    mo_coeff: np.ndarray
    occupations: Occupations
    density_matrix: np.ndarray
    timings: dict = field(default_factory=dict)
    force_mode: str = ""
    max_ov_coupling_ev: float | None = None  # consistent mode: max |<occ|F[D]-H|empty>|, 0 at SCF


class KohnShamFunctional:
    """E_KS[D] and forces for one geometry; geometry-only pieces are built once and reused.

    Built once per geometry: the PySCF cell, the multigrid task lists, the core
    Hamiltonian (kinetic + pseudopotential) and the overlap matrix.
    """

    def __init__(self, atoms: Atoms, settings: DFTSettings):
        if not settings.is_gamma or settings.spin != 0:
            raise NotImplementedError("E_KS[D] is implemented for Gamma-point, closed-shell settings")
        t0 = time.perf_counter()
        self.atoms = atoms.copy()
        self.settings = settings
        self.cell = build_cell(atoms, settings)
        self.mf = make_mean_field(self.cell, settings)
        self._hcore = None
        self._ovlp = None
        self.timings = {"setup": time.perf_counter() - t0}

    @property
    def nelectron(self) -> int:
        return int(self.cell.nelectron)

    @property
    def hcore(self) -> np.ndarray:
        if self._hcore is None:
            t0 = time.perf_counter()
            self._hcore = np.asarray(self.mf.get_hcore())
            self.timings["hcore"] = time.perf_counter() - t0
        return self._hcore

    @property
    def overlap(self) -> np.ndarray:
        if self._ovlp is None:
            self._ovlp = np.asarray(self.mf.get_ovlp())
        return self._ovlp

    def energy_ha(self, dm: np.ndarray) -> float:
        """E_KS[D] in Hartree (hcore + Hartree + xc + ion-ion), one potential build."""
        t0 = time.perf_counter()
        e = float(self.mf.energy_tot(dm=dm, h1e=self.hcore))
        self.timings["energy"] = time.perf_counter() - t0
        return e

    def gradient_ha_bohr(self, mo_energy: np.ndarray, mo_coeff: np.ndarray, mo_occ: np.ndarray,
                         w_ao: np.ndarray | None = None, veff_ip1: np.ndarray | None = None) -> np.ndarray:
        """KS force expression at the density of (mo_coeff, mo_occ); Hartree/Bohr.

        The Pulay term uses ``w_ao`` (AO, Hartree) when given, else W = C diag(f e) C^T.
        ``veff_ip1``: the potential's gradient integrals at this density from
        :meth:`energy_fock_and_ip1` (with rho(G) left in the integrator), which
        PySCF would otherwise build again.
        """
        self.hcore  # multigrid builds its long-range local-PP term with h_core; the gradient needs it
        t0 = time.perf_counter()
        grad = self.mf.nuc_grad_method()
        if w_ao is not None:
            grad.make_rdm1e = lambda *args, **kwargs: w_ao
        ni = self.mf._numint
        if veff_ip1 is not None:  # from potential_pass at this density: not computed again
            ni.get_veff_ip1 = lambda *args, **kwargs: veff_ip1
        try:
            g = np.asarray(grad.kernel(mo_energy, mo_coeff, mo_occ))
        finally:
            if veff_ip1 is not None:
                del ni.get_veff_ip1  # back to the class method
                ni.rhoG = None
        self.timings["gradient"] = time.perf_counter() - t0
        return g

    def _energy_from_pass(self, h_core: np.ndarray, dm: np.ndarray, p) -> float:
        """E_KS[D] (Hartree) = Tr(D h_core) + E_coul + E_xc (from one density pass) + E_nn."""
        return (float(np.einsum("ij,ji->", h_core, dm).real) + p.coulomb_energy_ha + p.xc_energy_ha
                + float(self.mf.energy_nuc()))

    def energy_and_gradient(self, mo_energy: np.ndarray, mo_coeff: np.ndarray, mo_occ: np.ndarray,
                            dm: np.ndarray) -> tuple[float, np.ndarray]:
        """E_KS[D] (Hartree) and its Hellmann-Feynman force expression (Hartree/Bohr).

        One density pass (``mlh_ipi.energy.multigrid_pass``, without the
        Hermitian integration F[D] that this force does not need) gives the
        energy and the potential's gradient integrals. Integrators the pass
        does not reproduce fall back to ``energy_tot`` + PySCF's gradient.
        """
        from mlh_ipi.energy.multigrid_pass import potential_pass, supported

        if not supported(self.mf):
            return self.energy_ha(dm), self.gradient_ha_bohr(mo_energy, mo_coeff, mo_occ)
        h_core = self.hcore  # first: it sets up the long-range local PP the pass adds to V_H
        t0 = time.perf_counter()
        p = potential_pass(self.mf, dm, with_veff=False)
        energy = self._energy_from_pass(h_core, dm, p)
        self.timings["energy"] = time.perf_counter() - t0
        return energy, self.gradient_ha_bohr(mo_energy, mo_coeff, mo_occ, veff_ip1=p.veff_ip1)

    def energy_and_fock(self, dm: np.ndarray) -> tuple[float, np.ndarray]:
        """E_KS[D] (Hartree) and the KS matrix F[D] = h_core + V_Hxc[D] (AO, Hartree), one potential build."""
        h_core = self.hcore  # first: multigrid's get_veff adds the long-range local PP set up by get_hcore
        t0 = time.perf_counter()
        veff = self.mf.get_veff(self.cell, dm)
        energy = float(self.mf.energy_tot(dm=dm, h1e=h_core, vhf=veff))
        self.timings["energy"] = time.perf_counter() - t0
        return energy, h_core + np.asarray(veff)

    def energy_fock_and_ip1(self, dm: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        """E_KS[D] (Hartree), F[D] (AO, Hartree) and the gradient integrals of V_Hxc[D] from one
        density pass (``mlh_ipi.energy.multigrid_pass``); ``None`` for the integrals when the
        integrator is not one the fused pass reproduces (then F comes from ``get_veff``)."""
        from mlh_ipi.energy.multigrid_pass import potential_pass, supported

        if not supported(self.mf):
            return (*self.energy_and_fock(dm), None)
        h_core = self.hcore  # first: it sets up the long-range local PP the pass adds to V_H
        t0 = time.perf_counter()
        p = potential_pass(self.mf, dm)
        energy = self._energy_from_pass(h_core, dm, p)
        self.timings["energy"] = time.perf_counter() - t0
        return energy, h_core + p.veff_ha, p.veff_ip1

    def evaluate(self, hamiltonian_ha: np.ndarray, forces: bool = True, force_mode: str = "consistent",
                 hamiltonian_vjp: Callable[[np.ndarray], np.ndarray] | None = None) -> EnergyForces:
        """Diagonalise H (Gamma, Hartree) with the exact overlap, build D, return E_KS[D] and forces.

        ``hamiltonian_vjp(G)`` (consistent mode): d/dR of sum_{mu nu} G_{mu nu} H_{mu nu}(R)
        for a fixed AO matrix G, as an (N, 3) array in **Hartree/Angstrom** -- the
        model's geometry dependence. ``None``: H does not depend on the geometry.
        """
        if force_mode not in FORCE_MODES:
            raise ValueError(f"force_mode must be one of {FORCE_MODES}, got {force_mode!r}")
        nao = self.cell.nao_nr()
        if hamiltonian_ha.shape != (nao, nao):
            raise ValueError(f"Hamiltonian shape {hamiltonian_ha.shape} does not match the basis ({nao} AOs)")
        t0 = time.perf_counter()
        e, c = solve(hamiltonian_ha, self.overlap)
        occ = occupations(e, self.nelectron, self.settings.smearing)
        dm = density_matrix(c, occ.occ)
        self.timings["diagonalise"] = time.perf_counter() - t0
        f = None
        coupling = None
        if forces and force_mode == "consistent":
            energy, fock, veff_ip1 = self.energy_fock_and_ip1(dm)
            t0 = time.perf_counter()
            resp = density_response(e, c, occ, fock)
            self.timings["response"] = time.perf_counter() - t0
            grad = self.gradient_ha_bohr(e, c, occ.occ, w_ao=resp.w_eff, veff_ip1=veff_ip1)
            if hamiltonian_vjp is not None:
                t0 = time.perf_counter()
                dh = np.asarray(hamiltonian_vjp(resp.g), dtype=np.float64)
                if dh.shape != grad.shape:
                    raise ValueError(f"hamiltonian_vjp returned shape {dh.shape}, expected {grad.shape}")
                grad = grad + dh * BOHR  # Hartree/Angstrom -> Hartree/Bohr
                self.timings["model_gradient"] = time.perf_counter() - t0
            f = -grad * HARTREE_PER_BOHR
            coupling = resp.max_ov_coupling_ha * HARTREE
        elif forces:
            energy, grad = self.energy_and_gradient(e, c, occ.occ, dm)
            f = -grad * HARTREE_PER_BOHR
        else:
            energy = self.energy_ha(dm)
        return EnergyForces(
            energy_ev=energy * HARTREE,
            free_energy_ev=(energy + occ.minus_ts_ha) * HARTREE,
            forces_ev_per_a=f,
            mo_energy_ha=e,
            mo_coeff=c,
            occupations=occ,
            density_matrix=dm,
            timings=dict(self.timings),
            force_mode=force_mode if forces else "",
            max_ov_coupling_ev=coupling,
        )
