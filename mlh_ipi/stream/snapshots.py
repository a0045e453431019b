"""The unit of work of a stream: one MD snapshot with its labels (source, step, T, defect kind)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from ase import Atoms


@dataclass(frozen=True)
class Snapshot:
    """Positions (N, 3) Å and cell (3, 3) Å of one frame.

    ``source`` names the trajectory or MD run and ``step`` the frame in it (MD
    timestep, or frame index for files without one); together they are the key
    of the processed-step index. ``temperature_k`` and ``defect`` select the
    statistics group. ``defect_atoms`` (0-based indices, or None for the IPR
    criterion), ``valence_states`` (host band edges by count; None: by occupation)
    and ``resonance_ev`` (eV; defect states that far outside the gap also count)
    go to the defect-level picking (``find_defect_levels``).
    """

    source: str
    step: int
    symbols: tuple[str, ...]
    positions: np.ndarray
    cell: np.ndarray
    temperature_k: float
    defect: str = "none"
    defect_atoms: tuple[int, ...] | None = None
    valence_states: int | None = None
    resonance_ev: float = 0.0

    def to_atoms(self) -> Atoms:
        atoms = Atoms(symbols=list(self.symbols), positions=self.positions, cell=self.cell, pbc=True)
        if self.defect_atoms is not None:
            atoms.info["defect_atoms"] = list(self.defect_atoms)
        if self.valence_states is not None:
            atoms.info["valence_states"] = int(self.valence_states)
        if self.resonance_ev:
            atoms.info["level_resonance_ev"] = float(self.resonance_ev)
        return atoms

    @classmethod
    def from_atoms(cls, atoms: Atoms, source: str, step: int, temperature_k: float,
                   defect: str = "none", defect_atoms: Sequence[int] | None = None,
                   valence_states: int | None = None, resonance_ev: float | None = None) -> "Snapshot":
        """``defect_atoms`` defaults to the builders' ``info["defect_atoms"]`` / ``info["defect_si"]``,
        ``valence_states`` and ``resonance_ev`` to ``info["valence_states"]`` / ``info["level_resonance_ev"]``."""
        from mlh_ipi.electronic.defect_levels import level_picking_from_info

        recorded = level_picking_from_info(atoms.info)
        defect_atoms = recorded["defect_atoms"] if defect_atoms is None else defect_atoms
        valence_states = recorded["valence_states"] if valence_states is None else valence_states
        resonance_ev = recorded["resonance_ev"] if resonance_ev is None else resonance_ev
        return cls(source=str(source), step=int(step), symbols=tuple(atoms.get_chemical_symbols()),
                   positions=np.array(atoms.get_positions(), float), cell=np.array(atoms.cell.array, float),
                   temperature_k=float(temperature_k), defect=str(defect),
                   defect_atoms=None if defect_atoms is None else tuple(int(i) for i in np.ravel(defect_atoms)),
                   valence_states=None if valence_states is None else int(valence_states),
                   resonance_ev=float(resonance_ev))
