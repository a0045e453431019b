"""A small untrained MACE model for the LAMMPS/MACE coupling tests.

:func:`small_mace_model` builds an untrained ``mace.modules.ScaleShiftMACE`` in
float64 from a fixed torch seed and saves it with ``torch.save`` (the format
``MACECalculator`` and :class:`mlh_ipi.lammps.mace_model.MACEPotential` load).
Random weights give a smooth, many-body, periodic potential: enough to check
that LAMMPS receives exactly MACE's energy, forces and virial, and that NVE
conserves energy. ``interaction_scale`` multiplies the interaction energy so
the forces are large enough (about 1 eV/Angstrom on a rattled GaAs cell) for
those checks to mean something.

A physical model (MACE trained on GaAs BOP through ``mace_run_train``) is
:func:`mlh_ipi.forcefield.classical_fit.gaas_bop_mace`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

torch.serialization.add_safe_globals([slice])

from ase.data import atomic_numbers  # noqa: E402
from e3nn import o3  # noqa: E402
from mace import modules  # noqa: E402


def small_mace_model(path: str | Path, elements: Sequence[str] = ("Ga", "As"), seed: int = 0,
                     r_max: float = 4.5, interaction_scale: float = 1.0,
                     atomic_energies: Sequence[float] | None = None,
                     hidden: str = "16x0e", max_ell: int = 1) -> Path:
    """Build, seed and save a small float64 ``ScaleShiftMACE``; return ``path``.

    ``r_max`` in Angstrom (4.5 covers the first two neighbour shells of GaAs);
    ``atomic_energies`` (eV per atom, one per element) default to -3.0, -4.0, ...
    """
    zs = [atomic_numbers[e] for e in elements]
    order = np.argsort(zs)
    zs = [zs[i] for i in order]
    if atomic_energies is None:
        e0 = np.array([-3.0 - i for i in range(len(zs))])
    else:
        e0 = np.asarray(atomic_energies, dtype=float)[order]
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(seed)
        block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=r_max, num_bessel=6, num_polynomial_cutoff=5, max_ell=max_ell,
            interaction_cls=block, interaction_cls_first=block, num_interactions=2,
            num_elements=len(zs), hidden_irreps=o3.Irreps(hidden), MLP_irreps=o3.Irreps("8x0e"),
            gate=torch.nn.functional.silu, atomic_energies=e0, avg_num_neighbors=16.0,
            atomic_numbers=zs, correlation=2, atomic_inter_scale=float(interaction_scale),
            atomic_inter_shift=0.0)
    finally:
        torch.set_default_dtype(prev)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.double(), path)
    return path
