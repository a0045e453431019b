"""``DFTCalculator``: the DFT backend as an ASE calculator (SCF energy and analytic forces).

Used to run DFT reference relaxations through exactly the same i-PI/ASE paths
as the MLH. The previous geometry's converged density matrix is the SCF guess
for the next one when the species list is unchanged. With ``density_file`` that
density is also kept on disk after every SCF, so a relaxation resumed in a new
process (i-PI restarted from its checkpoint) starts its first SCF there instead of
from atomic densities (47-atom a-SiO2 V_O relaxations at 500 Ha: 13 cycles from
atoms at a resumed segment's start, 7–9 from the previous step's density).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from mlh_ipi.atomic_io import save_npz
from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.units import HARTREE

log = logging.getLogger(__name__)


class DFTCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, settings: DFTSettings | None = None, reuse_density: bool = True,
                 density_file: str | Path | None = None, **kwargs):
        """``density_file`` (``.npz``): where the last converged density matrix is kept
        (float32, with the species list and the DFT settings) and read back from at start
        when its settings and, at the first calculation, its species list match."""
        super().__init__(**kwargs)
        self.settings = settings or DFTSettings()
        self.reuse_density = reuse_density
        self.density_file = None if density_file is None else Path(density_file)
        self._previous: tuple[list[str], np.ndarray] | None = None
        if self.reuse_density and self.density_file is not None and self.density_file.exists():
            self._previous = self._read_density(self.density_file)
        self.scf_cycles: list[int] = []
        self.electronic: dict = {}  # extras (eV); ASE's ``results`` only takes its own property names

    def _settings_key(self) -> str:
        return json.dumps(self.settings.to_dict(), sort_keys=True)

    def _read_density(self, path: Path) -> tuple[list[str], np.ndarray] | None:
        try:
            with np.load(path) as f:
                if str(f["settings"]) != self._settings_key():
                    log.info("%s: written with other DFT settings, not used as the SCF guess", path)
                    return None
                return [str(x) for x in f["symbols"]], np.asarray(f["density_matrix"], dtype=np.float64)
        except (OSError, KeyError, ValueError) as err:  # unreadable: start from atomic densities
            log.warning("%s: unreadable (%s), not used as the SCF guess", path, err)
            return None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        symbols = self.atoms.get_chemical_symbols()
        dm0 = None
        if self.reuse_density and self._previous is not None and self._previous[0] == symbols:
            dm0 = self._previous[1]
        res = run_scf(self.atoms, self.settings, dm0=dm0)
        self._previous = (symbols, res.density_matrix)
        if self.density_file is not None:
            save_npz(self.density_file, symbols=np.array(symbols), settings=np.array(self._settings_key()),
                     density_matrix=res.density_matrix.astype(np.float32))
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
