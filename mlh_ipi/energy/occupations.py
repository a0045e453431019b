"""Occupations of Kohn-Sham states: integer (insulator) or Fermi-Dirac (PySCF's smearing helpers).

Energies in Hartree. Occupations include the spin factor (0..2, closed shell).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyscf.scf.smearing import _fermi_smearing_occ, _smearing_optimize

from mlh_ipi.electronic.eigen import insulator_occupations


@dataclass(frozen=True)
class Occupations:
    occ: np.ndarray          # per state, 0..2
    fermi_ha: float          # chemical potential (mid-gap for an insulator)
    entropy: float           # dimensionless S/k_B (0 for integer occupations)
    sigma_ha: float = 0.0    # Fermi-Dirac width k_B T in Hartree

    @property
    def minus_ts_ha(self) -> float:
        """The -T S term that turns E into the Mermin free energy."""
        return -self.sigma_ha * self.entropy


def occupations(mo_energy_ha: np.ndarray, nelectron: int, smearing_ev: float | None = None) -> Occupations:
    """Closed-shell occupations; Fermi-Dirac with width ``smearing_ev`` (eV) when given."""
    e = np.asarray(mo_energy_ha)
    if smearing_ev is None:
        occ = insulator_occupations(len(e), nelectron)
        nocc = nelectron // 2
        mu = 0.5 * (e[nocc - 1] + e[nocc]) if nocc < len(e) else e[-1]
        return Occupations(occ, float(mu), 0.0)
    from mlh_ipi.units import HARTREE

    sigma = smearing_ev / HARTREE
    mu, f = _smearing_optimize(_fermi_smearing_occ, e, nelectron / 2.0, sigma)
    f = np.asarray(f)
    fc = np.clip(f, 1e-300, 1.0 - 1e-16)
    entropy = -2.0 * float(np.sum(fc * np.log(fc) + (1 - fc) * np.log1p(-fc)))
    return Occupations(2.0 * f, float(mu), entropy, sigma)
