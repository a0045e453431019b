"""``MLHCalculator``: an ASE calculator serving energies and forces from the predicted Hamiltonian.

Pipeline per geometry: model -> H^Gamma (Hartree) -> diagonalise with the exact
overlap -> density matrix -> E_KS[D] and forces through PySCF with the model's
own DFT settings (``mlh_ipi.energy.functional``). No SCF iterations.

Results (ASE units):

* ``energy`` (eV), ``forces`` (eV/Å); ``free_energy`` (eV) equals ``energy``
  unless the settings use Fermi-Dirac smearing, when it is E - TS.
* extras in ``calc.electronic`` (ASE's ``results`` only holds its own property
  names): ``band_gap``, ``vbm``, ``cbm`` (eV, host-like
  edges), ``defect_levels`` (eV, absolute), ``defect_levels_above_vbm``,
  ``defect_levels_below_cbm``, and with a committee ``band_gap_std`` (eV),
  ``energy_std`` (eV), ``h_max_std`` (eV).

``force_mode``: ``"consistent"`` (default) serves the exact gradient of the
served energy, including the model's own geometry derivative;
``"hellmann_feynman"`` the KS force expression at the predicted density (one
potential build cheaper, not the gradient of the energy). See
``mlh_ipi.energy.functional``.

Forces are computed when they are asked for (``get_forces``, or ``calculate``
with ``"forces"`` in ``properties``; i-PI and ASE optimisers ask for energy and
forces in one call). An energy-only request skips the gradient passes, which
are most of the cost. A later ``get_forces`` on the same geometry reuses that
call's PySCF objects, H_0 and predicted Hamiltonian; it repeats only the
diagonalisation and the one potential build the force expression needs.

``mode="h_only"`` skips the energy functional: only the electronic extras are
computed (MD snapshot analysis); asking it for energy or forces is an error.

Baseline models (``baseline = "harris"``, ``mlh_ipi.dft.harris``) add H_0 to the
network's ΔH; in energy mode H_0 and its force term reuse the functional's PySCF
objects. H_0 costs one potential build, its force term two gradient passes.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.electronic.defect_levels import find_defect_levels, level_picking_from_info
from mlh_ipi.electronic.eigen import solve
from mlh_ipi.units import HARTREE

MODES = ("energy", "h_only")


def load_hamiltonian_model(model):
    """A ``HamiltonianPredictor`` or ``Committee`` from a path (checkpoint file or committee folder)."""
    from mlh_ipi.model.committee import Committee
    from mlh_ipi.model.predictor import HamiltonianPredictor

    if isinstance(model, (HamiltonianPredictor, Committee)):
        return model
    path = os.fspath(model)
    if os.path.isdir(path):
        return Committee.load(path)
    return HamiltonianPredictor.load(path)


class MLHCalculator(Calculator):
    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, model, mode: str = "energy", defect_atoms: Sequence[int] | None = None,
                 committee_energy_spread: bool = True, force_mode: str = "consistent",
                 valence_states: int | None = None, resonance_ev: float | None = None, **kwargs):
        """``model``: checkpoint path, committee folder, ``HamiltonianPredictor`` or ``Committee``.

        ``defect_atoms``: indices of the defect's atoms (dangling-bond neighbours of a vacancy,
        antisite/interstitial and first shell) for defect-level picking; defaults to
        ``atoms.info["defect_atoms"]`` when present, else the IPR criterion is used.
        ``valence_states`` (host band edges by count, not occupation) and ``resonance_ev`` (eV;
        defect states that far outside the gap also reported) go to
        :func:`~mlh_ipi.electronic.defect_levels.find_defect_levels`; they default to
        ``atoms.info["valence_states"]`` and ``atoms.info["level_resonance_ev"]``, else occupation and 0.
        """
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        from mlh_ipi.energy.functional import FORCE_MODES

        if force_mode not in FORCE_MODES:
            raise ValueError(f"force_mode must be one of {FORCE_MODES}, got {force_mode!r}")
        self.force_mode = force_mode
        self.model = load_hamiltonian_model(model)
        self.mode = mode
        self.defect_atoms = None if defect_atoms is None else list(defect_atoms)
        self.valence_states = None if valence_states is None else int(valence_states)
        self.resonance_ev = None if resonance_ev is None else float(resonance_ev)
        self.committee_energy_spread = committee_energy_spread
        self.functional = None  # the last geometry's KohnShamFunctional
        self.electronic: dict = {}  # electronic extras of the last calculation (eV)
        self._prepared = None  # the last geometry's graph, H_0 and predicted H (energy mode)

    # --- properties of the model -----------------------------------------
    @property
    def settings(self) -> DFTSettings:
        return self.model.settings

    @property
    def is_committee(self) -> bool:
        return hasattr(self.model, "members")

    def check_atoms(self, atoms: Atoms) -> None:
        """``ValueError`` for species the model has no basis for, NaN positions or a missing cell."""
        pos = atoms.get_positions()
        if not np.all(np.isfinite(pos)):
            raise ValueError("non-finite (NaN/inf) positions: refusing to compute forces")
        self.model.layout.check_symbols(atoms.get_chemical_symbols())
        if not all(atoms.pbc) or abs(atoms.cell.volume) < 1e-6:
            raise ValueError("MLHCalculator needs a 3D periodic cell")

    # --- ASE interface ----------------------------------------------------
    def reset(self):
        super().reset()
        self._prepared = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        self.check_atoms(atoms)
        if self.mode == "h_only" and set(properties) & {"energy", "forces", "free_energy"}:
            raise ValueError("MLHCalculator(mode='h_only') computes no energy or forces")
        if not system_changes and self._prepared is not None and "forces" in properties:
            self._add_forces(*self._prepared)
            return
        self._prepared = None
        symbols = atoms.get_chemical_symbols()
        graph = self.model.graph(symbols, atoms.get_positions(), atoms.cell.array)
        baseline = None
        if self.mode == "h_only" and self.model.baseline:  # H_0 and S from one PySCF cell
            from mlh_ipi.dft.harris import HarrisBaseline

            baseline = HarrisBaseline(atoms, self.settings)
        if self.mode != "h_only":
            from mlh_ipi.energy.functional import KohnShamFunctional

            self.functional = KohnShamFunctional(atoms, self.settings)
            if self.model.baseline:  # H_0 on the functional's own PySCF objects and h_core: built once
                from mlh_ipi.dft.harris import HarrisBaseline

                baseline = HarrisBaseline(mean_field=self.functional.mf, hcore=self.functional.hcore)
        members_h = None
        self.electronic = {}
        if self.is_committee:
            members_h = self.model.member_gammas(graph, baseline)
            h = np.mean(members_h, axis=0)
            self.electronic["h_max_std"] = float(np.std(members_h, axis=0).max() * HARTREE)
        else:
            h = self.model.predict_gamma(graph, baseline)
        offsets = self.model.layout.atom_offsets(symbols)

        if self.mode == "h_only":
            from mlh_ipi.dft.cell import gamma_overlap

            s = (gamma_overlap(atoms, self.settings) if baseline is None
                 else np.asarray(baseline.mf.cell.pbc_intor("int1e_ovlp", hermi=1)))
            e, c = solve(h, s)
            nelectron = _nelectron(atoms, self.settings)
        else:
            want_forces = "forces" in properties
            res = self.functional.evaluate(
                h, forces=want_forces, force_mode=self.force_mode,
                hamiltonian_vjp=lambda g: self.model.gamma_vjp(graph, g, baseline))
            self.results["energy"] = res.energy_ev
            self.results["free_energy"] = res.free_energy_ev
            if want_forces:
                self.results["forces"] = res.forces_ev_per_a
            else:  # kept for a later get_forces on this geometry
                self._prepared = (graph, baseline, h)
            s, e, c = self.functional.overlap, res.mo_energy_ha, res.mo_coeff
            nelectron = self.functional.nelectron
            if members_h is not None and self.committee_energy_spread:
                energies = [self.functional.evaluate(hm, forces=False).energy_ev for hm in members_h]
                self.electronic["energy_std"] = float(np.std(energies))
        # the generalized eigensystem of the last calculation (energies in Hartree), for callers
        # that need more than the extras, e.g. state-resolved weights
        self.eigensystem = {"mo_energy_ha": e, "mo_coeff": c, "overlap": s, "atom_offsets": offsets,
                            "nelectron": nelectron}
        self._electronic_extras(e, c, s, offsets, nelectron, atoms, members_h)

    def _add_forces(self, graph, baseline, h) -> None:
        """Forces for the geometry of the last energy-only call, from its cached state."""
        res = self.functional.evaluate(
            h, forces=True, force_mode=self.force_mode,
            hamiltonian_vjp=lambda g: self.model.gamma_vjp(graph, g, baseline))
        self.results["forces"] = res.forces_ev_per_a
        self._prepared = None

    def _electronic_extras(self, e, c, s, offsets, nelectron, atoms, members_h) -> None:
        picking = level_picking_from_info(atoms.info)  # what the structure builders recorded
        for key, value in (("defect_atoms", self.defect_atoms), ("valence_states", self.valence_states),
                           ("resonance_ev", self.resonance_ev)):
            if value is not None:
                picking[key] = value
        lv = find_defect_levels(e, c, s, offsets, nelectron, **picking)
        self.electronic.update({
            "band_gap": lv.gap_ev, "vbm": lv.vbm_ev, "cbm": lv.cbm_ev,
            "defect_levels": np.asarray(lv.levels_ev),
            "defect_levels_above_vbm": np.asarray(lv.above_vbm_ev),
            "defect_levels_below_cbm": np.asarray(lv.below_cbm_ev),
        })
        if picking["resonance_ev"] > 0:
            self.electronic["defect_levels_resonant"] = np.asarray(lv.resonant, bool)
        if members_h is not None:
            gaps = []
            for hm in members_h:
                em, cm = solve(hm, s)
                gaps.append(find_defect_levels(em, cm, s, offsets, nelectron, **picking).gap_ev)
            self.electronic["band_gap_std"] = float(np.std(gaps))

    def extras(self) -> dict:
        """JSON-friendly electronic extras of the last calculation (for i-PI and the stream)."""
        keys = ("band_gap", "vbm", "cbm", "defect_levels", "defect_levels_above_vbm",
                "defect_levels_below_cbm", "defect_levels_resonant", "band_gap_std", "energy_std", "h_max_std")
        return {k: np.asarray(self.electronic[k]).tolist() for k in keys if k in self.electronic}


def _nelectron(atoms: Atoms, settings: DFTSettings) -> int:
    from mlh_ipi.dft.cell import valence_electrons

    return valence_electrons(atoms.get_chemical_symbols(), settings)
