"""i-PI PES plugin serving MLH (or DFT-reference) energies and forces, with electronic extras.

Run with i-PI's own driver::

    i-pi-py_driver -m custom -P $(python -c 'import mlh_ipi.ipi.pes as m; print(m.__file__)') \
        -u -a ADDRESS -o model=model.pt,template=start.extxyz

or with ``mlh-ipi serve`` (same plugin, and the client exits cleanly when the
server dies). Keyword options (``-o key=value,...``):

* ``template``: ASE-readable structure giving species and atom order (required);
* ``engine``: ``mlh`` (default) or ``dft``;
* ``model``: checkpoint file or committee folder (``engine=mlh``);
* ``settings``: JSON file with DFTSettings fields (``engine=dft``; default settings otherwise);
* ``defect_atoms``: ``i;j;k`` indices used for defect-level picking;
* ``force_mode``: ``consistent`` (default, the exact gradient of the served
  energy) or ``hellmann_feynman`` (engine mlh; see ``mlh_ipi.energy.functional``).

The energy served is the one the forces are the gradient of: E_KS, or the
Mermin free energy E - TS when the settings use Fermi-Dirac smearing.

Capabilities: energy and forces. Stress is not implemented (the E_KS[D]
stress would need the density-matrix derivative of the cell), so the virial
returned to i-PI is zero: use fixed-cell optimisers and NVT/NVE only.
Per step, the JSON extras carry band_gap, vbm, cbm, defect levels and, for a
committee, band_gap_std / energy_std (eV).
"""
from __future__ import annotations

import json
import sys

import numpy as np
from ipi.pes._ase import ASEDriver
from ipi.utils.units import unit_to_internal

from mlh_ipi.ipi import failfast

__DRIVER_NAME__ = "mlh"
__DRIVER_CLASS__ = "MLHDriver"

# Loaded by i-PI's stock ``i-pi-py_driver`` script: make its socket loop fail fast.
if hasattr(sys.modules.get("__main__"), "run_driver"):
    failfast.install(sys.modules["__main__"])


class MLHDriver(ASEDriver):
    """ASE-calculator driver around ``MLHCalculator`` (``engine=mlh``) or ``DFTCalculator`` (``engine=dft``)."""

    def __init__(self, template, model=None, engine="mlh", settings=None, defect_atoms=None,
                 force_mode="consistent", density_file=None, *args, **kwargs):
        self.model_path = model
        self.density_file = density_file or None
        self.force_mode = force_mode
        self.engine = engine
        self.settings_path = settings
        self.defect_atoms = _parse_indices(defect_atoms)
        super().__init__(template, *args, has_energy=True, has_forces=True, has_stress=False, **kwargs)

    def check_parameters(self):
        """Load the template and the calculator; reject species the model cannot handle, now."""
        super().check_parameters()
        self.ase_calculator = make_calculator(self.engine, self.model_path, self.settings_path,
                                              self.defect_atoms, self.force_mode, self.density_file)
        if self.engine == "mlh":
            self.ase_calculator.check_atoms(self.template_ase)
        self.n_atoms = len(self.template_ase)

    def compute_structure(self, cell, pos):
        pos = np.asarray(pos)
        if pos.reshape(-1, 3).shape[0] != self.n_atoms:
            raise ValueError(f"i-PI sent {pos.size // 3} atoms but the template {self.template!r} "
                             f"has {self.n_atoms}: wrong structure for this client")
        if not np.all(np.isfinite(pos)) or not np.all(np.isfinite(cell)):
            raise ValueError("i-PI sent non-finite (NaN/inf) positions or cell")
        return super().compute_structure(cell, pos)

    def post_process(self, properties, structure):
        """eV, eV/A -> i-PI atomic units (i-PI's own converters); zero virial (no stress)."""
        energy = self.ase_calculator.results.get("free_energy", properties["energy"])
        pot = np.asarray(unit_to_internal("energy", "electronvolt", energy), np.float64)
        force = np.asarray(unit_to_internal("force", "ev/ang", properties["forces"]), np.float64)
        return pot, force, np.zeros((3, 3)), json.dumps(self.ase_calculator.extras())


def make_calculator(engine: str, model=None, settings=None, defect_atoms=None,
                    force_mode: str = "consistent", density_file=None):
    """The ASE calculator behind the plugin: ``MLHCalculator`` or ``DFTCalculator``
    (``density_file``: where it keeps its last converged density, engine dft)."""
    if engine == "mlh":
        if model is None:
            raise ValueError("engine=mlh needs model=PATH (checkpoint or committee folder)")
        from mlh_ipi.calculator import MLHCalculator

        return MLHCalculator(model, defect_atoms=defect_atoms, force_mode=force_mode)
    if engine == "dft":
        from mlh_ipi.dft.calculator import DFTCalculator
        from mlh_ipi.dft.settings import DFTSettings

        s = DFTSettings.from_dict(json.loads(open(settings).read())) if settings else DFTSettings()
        return DFTCalculator(s, density_file=density_file)
    raise ValueError(f"engine must be 'mlh' or 'dft', got {engine!r}")


def _parse_indices(value):
    if value in (None, "", "none"):
        return None
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(v) for v in str(value).replace(";", " ").split()]
