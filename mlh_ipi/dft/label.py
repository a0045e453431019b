"""``label(atoms, settings)``: one converged DFT calculation turned into a training label.

Label choice (documented in docs/labels.md): the SCF runs at the Gamma point of
the supercell (``multigrid_numint``, analytic forces), so the Hamiltonian label
is the **Gamma-point Kohn-Sham matrix** ``H^Gamma = sum_R H(R)``. The model
still predicts per-(i, j, R) blocks and is trained through that sum; the
overlap is stored image-resolved (exact two-centre integrals) and summed the same
way. Image-resolved H(R) for a converged density is available separately from
``mlh_ipi.dft.image_resolved`` for validation on small cells.
"""
from __future__ import annotations

import platform
import time

import numpy as np
from ase import Atoms

from mlh_ipi.dft.basis import orbital_layout
from mlh_ipi.dft.cell import build_cell
from mlh_ipi.dft.realspace import OVERLAP_BLOCK_THRESHOLD, overlap_blocks
from mlh_ipi.dft.scf import SCFResult, make_mean_field, run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.dft.types import Label


def label_from_scf(scf: SCFResult, with_forces: bool = True,
                   overlap_threshold: float = OVERLAP_BLOCK_THRESHOLD) -> Label:
    """Extract a ``Label`` from a converged Gamma-point ``SCFResult``."""
    if not scf.settings.is_gamma or scf.settings.spin != 0:
        raise NotImplementedError("labels are Gamma-point, spin-restricted (see docs/labels.md)")
    cell, mf = scf.cell, scf.mf
    layout = orbital_layout(cell, scf.settings.basis)
    symbols = scf.atoms.get_chemical_symbols()
    t0 = time.perf_counter()
    forces = scf.forces_ev_per_a() if with_forces else np.full((len(symbols), 3), np.nan)
    t_forces = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs, blocks = overlap_blocks(cell, layout.atom_offsets(symbols), overlap_threshold)
    t_blocks = time.perf_counter() - t0
    dm = np.asarray(mf.make_rdm1())
    fock = np.asarray(mf.get_fock(dm=dm))
    return Label(
        symbols=symbols,
        positions_a=scf.atoms.get_positions(),
        cell_a=scf.atoms.cell.array.copy(),
        energy_ev=scf.energy_ev,
        forces_ev_per_a=forces,
        hamiltonian_ha=0.5 * (fock + fock.T),
        overlap=np.asarray(mf.get_ovlp()),
        density_matrix=dm,
        mo_energy_ha=np.asarray(mf.mo_energy),
        nelectron=int(cell.nelectron),
        layout=layout,
        settings=scf.settings,
        overlap_pairs=pairs,
        overlap_blocks=blocks,
        provenance=provenance(scf, t_forces=t_forces, t_blocks=t_blocks),
        info={k: v for k, v in scf.atoms.info.items() if _jsonable(v)},
    )


def label(atoms: Atoms, settings: DFTSettings | None = None, dm0: np.ndarray | None = None,
          with_forces: bool = True) -> Label:
    """Run the SCF for ``atoms`` and return its ``Label``.

    Raises ``ValueError`` for bad input (unknown element/basis, NaN positions)
    and ``SCFNotConverged`` when the SCF fails; nothing partial is returned.
    """
    settings = settings or DFTSettings()
    return label_from_scf(run_scf(atoms, settings, dm0=dm0), with_forces=with_forces)


def derived_matrices(symbols, positions_a: np.ndarray, cell_a: np.ndarray, hamiltonian_ha: np.ndarray,
                     settings: DFTSettings, overlap_threshold: float = OVERLAP_BLOCK_THRESHOLD) -> dict:
    """What a label holds besides E, F and H, recomputed from the structure and H (no SCF).

    Returns ``overlap`` (S^Γ), ``overlap_pairs``/``overlap_blocks`` (S_ij(R)), both
    exact two-centre integrals; ``mo_energy_ha`` and ``density_matrix`` from
    H c = ε S c with the occupations of the SCF's own mean-field object (integer, or
    Fermi-Dirac with ``settings.smearing``); ``nelectron``. At the SCF's H these
    equal the SCF's eigenvalues and density.
    """
    atoms = Atoms(list(symbols), positions=np.asarray(positions_a, float), cell=np.asarray(cell_a, float),
                  pbc=True)
    cell = build_cell(atoms, settings)
    layout = orbital_layout(cell, settings.basis)
    mf = make_mean_field(cell, settings)
    s = np.asarray(mf.get_ovlp())
    h = np.asarray(hamiltonian_ha, dtype=float)
    if h.shape != s.shape:
        raise ValueError(f"H is {h.shape}, the basis gives {s.shape}: label and settings disagree")
    mo_energy, mo_coeff = mf.eig(h, s)
    mo_occ = mf.get_occ(mo_energy, mo_coeff)
    pairs, blocks = overlap_blocks(cell, layout.atom_offsets(list(symbols)), overlap_threshold)
    return {"overlap": s, "overlap_pairs": pairs, "overlap_blocks": blocks,
            "mo_energy_ha": np.asarray(mo_energy), "nelectron": int(cell.nelectron),
            "density_matrix": np.asarray(mf.make_rdm1(mo_coeff, mo_occ))}


def provenance(scf: SCFResult, **timings: float) -> dict:
    import pyscf

    return {
        "code": "pyscf",
        "pyscf_version": pyscf.__version__,
        "mlh_ipi_version": _version(),
        "python": platform.python_version(),
        "host": platform.node(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "scf_cycles": scf.cycles,
        "wall_s": {"scf": scf.wall_s, **{k.removeprefix("t_"): v for k, v in timings.items()}},
        "mesh": [int(m) for m in scf.cell.mesh],
    }


def _version() -> str:
    from mlh_ipi import __version__

    return __version__


def _jsonable(v) -> bool:
    return isinstance(v, (str, int, float, bool, list, dict)) or v is None
