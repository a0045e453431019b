"""The Kohn-Sham energy functional E_KS[D] and its forces, evaluated by PySCF at a given density.

No SCF: the density matrix comes from the eigenvectors of a (predicted)
Hamiltonian. Energy and forces go through PySCF's own code paths
(``energy_tot``, ``pbc.grad.rks``) with exactly the DFT backend's settings, so
feeding the converged DFT Hamiltonian reproduces the SCF energy and forces.

What the forces are
-------------------
``forces`` evaluates the standard KS force expression at the given density:

    F_A = -[ Tr(D dh/dR_A) + Tr(D dV_Hxc[rho]/dR_A)|_basis - Tr(W dS/dR_A) + dE_nn/dR_A ]

(Hellmann-Feynman plus Pulay terms), with W = sum_n f_n e_n c_n c_n^T built
from the eigenpairs that produced D. At the SCF density this is exactly
-dE/dR. At a non-self-consistent density it is the force of the Harris-Foulkes
type expression, not the derivative of E_KS[D(H_ML(R))] along the model's
geometry dependence; the difference is first order in the density error
(measured in BENCHMARKS.md, ``benchmarks/force_consistency.py``).

Units: Hartree and Bohr inside (PySCF), eV and eV/Angstrom in ``EnergyForces``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from mlh_ipi.dft.cell import build_cell
from mlh_ipi.dft.scf import make_mean_field
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.electronic.eigen import density_matrix, solve
from mlh_ipi.energy.occupations import Occupations, occupations
from mlh_ipi.units import HARTREE, HARTREE_PER_BOHR


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

    def gradient_ha_bohr(self, mo_energy: np.ndarray, mo_coeff: np.ndarray, mo_occ: np.ndarray) -> np.ndarray:
        """KS force expression at the density of (mo_coeff, mo_occ), W from mo_energy; Hartree/Bohr."""
        t0 = time.perf_counter()
        g = np.asarray(self.mf.nuc_grad_method().kernel(mo_energy, mo_coeff, mo_occ))
        self.timings["gradient"] = time.perf_counter() - t0
        return g

    def evaluate(self, hamiltonian_ha: np.ndarray, forces: bool = True) -> EnergyForces:
        """Diagonalise H (Gamma, Hartree) with the exact overlap, build D, return E_KS[D] and forces."""
        nao = self.cell.nao_nr()
        if hamiltonian_ha.shape != (nao, nao):
            raise ValueError(f"Hamiltonian shape {hamiltonian_ha.shape} does not match the basis ({nao} AOs)")
        t0 = time.perf_counter()
        e, c = solve(hamiltonian_ha, self.overlap)
        occ = occupations(e, self.nelectron, self.settings.smearing)
        dm = density_matrix(c, occ.occ)
        self.timings["diagonalise"] = time.perf_counter() - t0
        energy = self.energy_ha(dm)
        f = None
        if forces:
            f = -self.gradient_ha_bohr(e, c, occ.occ) * HARTREE_PER_BOHR
        return EnergyForces(
            energy_ev=energy * HARTREE,
            free_energy_ev=(energy + occ.minus_ts_ha) * HARTREE,
            forces_ev_per_a=f,
            mo_energy_ha=e,
            mo_coeff=c,
            occupations=occ,
            density_matrix=dm,
            timings=dict(self.timings),
        )
