"""Energy and force errors of a MACE calculator against reference labels (meV/atom, meV/Å).

Energies are compared per atom (meV/atom) so that cells of different size
weigh alike; forces component-wise over all atoms of all structures (meV/Å).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from ase import Atoms

from mlh_ipi.forcefield.deviation import atom_force_deviation

__all__ = ["force_field_errors"]


def force_field_errors(calc, frames: Sequence[Atoms], energies_ev: Sequence[float],
                       forces_ev_per_a: Sequence[np.ndarray]) -> dict[str, float]:
    """Errors of ``calc`` (committee mean for a committee) on labelled ``frames``.

    Returns ``energy_rmse_mev_per_atom``, ``energy_mae_mev_per_atom``,
    ``force_rmse_mev_per_a``, ``force_mae_mev_per_a``, ``force_ref_rms_mev_per_a``
    (RMS of the reference forces: the error of predicting zero forces), ``n_structures``
    and, for a committee, ``mean_max_force_std_mev_per_a`` (mean over structures of
    the max per-atom committee force deviation).
    """
    if not len(frames) == len(energies_ev) == len(forces_ev_per_a) or not frames:
        raise ValueError("need the same, non-zero number of frames, energies and forces")
    de, df, fref, spread = [], [], [], []
    for atoms, e_ref, f_ref in zip(frames, energies_ev, forces_ev_per_a):
        at = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell,
                   pbc=atoms.pbc)
        at.calc = calc
        e = at.get_potential_energy()
        f = at.get_forces()
        de.append((e - float(e_ref)) / len(at))
        df.append((f - np.asarray(f_ref)).ravel())
        fref.append(np.asarray(f_ref).ravel())
        if getattr(calc, "num_models", 1) > 1:
            spread.append(atom_force_deviation(calc.results["forces_comm"]).max())
    de, df, fref = np.array(de), np.concatenate(df), np.concatenate(fref)
    out = {
        "n_structures": len(frames),
        "energy_rmse_mev_per_atom": 1e3 * float(np.sqrt(np.mean(de**2))),
        "energy_mae_mev_per_atom": 1e3 * float(np.mean(np.abs(de))),
        "force_rmse_mev_per_a": 1e3 * float(np.sqrt(np.mean(df**2))),
        "force_mae_mev_per_a": 1e3 * float(np.mean(np.abs(df))),
        "force_ref_rms_mev_per_a": 1e3 * float(np.sqrt(np.mean(fref**2))),
    }
    if spread:
        out["mean_max_force_std_mev_per_a"] = 1e3 * float(np.mean(spread))
    return out
