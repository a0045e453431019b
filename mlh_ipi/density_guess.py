"""The machine-learned Hamiltonian's density as the starting guess of a DFT SCF.

A trained model's H^Γ gives, through H c = ε S c and the occupation rule of the
DFT settings (integer, or Fermi-Dirac with ``settings.smearing``), a density
matrix close to the converged one. Starting the SCF there instead of from
superposed atoms cuts its cycles (BENCHMARKS.md, "SCF from the MLH density").
It pays wherever DFT labels are made once a model exists: active-learning rounds
after the first, and the DFT checks of streamed MD snapshots. The converged
result does not depend on the guess (same SCF, same ``conv_tol``).

Γ-point settings only: the guess is the Γ density matrix (nao, nao), in the AO
basis and orbital order of the model's settings (electrons; spin-summed).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from ase import Atoms


def mlh_density_guess(model, settings=None) -> Callable[[Atoms], np.ndarray]:
    """``guess(atoms) -> D`` from the Hamiltonian model (``HamiltonianPredictor``,
    committee or checkpoint path; a committee guesses from its mean H).

    ``settings`` (the ``DFTSettings`` of the SCFs to be started): their basis and
    pseudopotentials must be the model's, else the AO basis differs (``ValueError``);
    their occupation rule (``smearing``) fills the states. Default: the model's settings.
    ``ValueError`` also for settings with more than one k-point, and (from the
    calculator) for atoms the model cannot describe.
    """
    from mlh_ipi.calculator import MLHCalculator
    from mlh_ipi.electronic.eigen import density_matrix
    from mlh_ipi.energy.occupations import occupations

    calc = MLHCalculator(model, mode="h_only")
    if settings is not None:
        for name in ("basis", "pseudo"):
            if getattr(settings, name) != getattr(calc.settings, name):
                raise ValueError(f"the model was trained with {name} {getattr(calc.settings, name)!r}, the SCFs "
                                 f"use {getattr(settings, name)!r}: its density is in another AO basis")
    scf = settings if settings is not None else calc.settings
    if tuple(scf.kmesh) != (1, 1, 1):
        raise ValueError(f"the MLH density guess is a Gamma-point density; settings have kmesh "
                         f"{tuple(scf.kmesh)}")

    def guess(atoms: Atoms) -> np.ndarray:
        calc.calculate(atoms.copy(), properties=())
        es = calc.eigensystem
        occ = occupations(es["mo_energy_ha"], es["nelectron"], scf.smearing)
        return density_matrix(es["mo_coeff"], occ.occ)

    return guess


__all__ = ["mlh_density_guess"]
