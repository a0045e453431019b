"""``DFTCalculator``: the DFT backend as an ASE calculator (SCF energy and analytic forces).

Used to run DFT reference relaxations through exactly the same i-PI/ASE paths
as the MLH. The previous geometry's converged density matrix is the SCF guess
for the next one when the species list is unchanged.
"""
from __future__ import annotations

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.units import HARTREE


class DFTCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, settings: DFTSettings | None = None, reuse_density: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.settings = settings or DFTSettings()
        self.reuse_density = reuse_density
        self._previous: tuple[list[str], np.ndarray] | None = None
        self.scf_cycles: list[int] = []
        self.electronic: dict = {}  # extras (eV); ASE's ``results`` only takes its own property names

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        symbols = self.atoms.get_chemical_symbols()
        dm0 = None
        if self.reuse_density and self._previous is not None and self._previous[0] == symbols:
            dm0 = self._previous[1]
        res = run_scf(self.atoms, self.settings, dm0=dm0)
        self._previous = (symbols, res.density_matrix)
        self.scf_cycles.append(res.cycles)
        self.results["energy"] = res.energy_ev
        self.results["free_energy"] = res.energy_ev
        self.results["forces"] = res.forces_ev_per_a()
        nocc = res.cell.nelectron // 2
        e = np.sort(np.asarray(res.mf.mo_energy))
        vbm, cbm = float(e[nocc - 1] * HARTREE), float(e[nocc] * HARTREE)
        self.electronic = {"vbm": vbm, "cbm": cbm, "band_gap": cbm - vbm, "scf_cycles": res.cycles}

    def extras(self) -> dict:
        """Electronic extras of the last calculation (eV), JSON-friendly."""
        return dict(self.electronic)
