"""Plain data types of the DFT backend (no PySCF import, so data/ and model/ can read them)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.orbitals import OrbitalLayout
from mlh_ipi.units import HARTREE


@dataclass
class Label:
    """A DFT label. Units are in the field names: eV, eV/A, Hartree (``_ha``), Angstrom (``_a``).

    ``hamiltonian_ha`` and ``overlap`` are the Gamma-point AO matrices
    (nao x nao, layout order). ``overlap_pairs``/``overlap_blocks`` are the
    image-resolved S_ij(R) with ``sum_R S_ij(R) == overlap`` block by block.
    """

    symbols: list[str]
    positions_a: np.ndarray
    cell_a: np.ndarray
    energy_ev: float
    forces_ev_per_a: np.ndarray
    hamiltonian_ha: np.ndarray
    overlap: np.ndarray
    density_matrix: np.ndarray
    mo_energy_ha: np.ndarray
    nelectron: int
    layout: OrbitalLayout
    settings: DFTSettings
    overlap_pairs: np.ndarray
    overlap_blocks: list[np.ndarray]
    provenance: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @property
    def natoms(self) -> int:
        return len(self.symbols)

    @property
    def atom_offsets(self) -> np.ndarray:
        return self.layout.atom_offsets(self.symbols)

    def atoms(self) -> Atoms:
        at = Atoms(self.symbols, positions=self.positions_a, cell=self.cell_a, pbc=True)
        at.info.update(self.info)
        return at

    def band_gap_ev(self) -> float:
        """HOMO-LUMO gap at Gamma in eV (insulator occupations)."""
        nocc = self.nelectron // 2
        e = np.sort(self.mo_energy_ha)
        return float((e[nocc] - e[nocc - 1]) * HARTREE)
