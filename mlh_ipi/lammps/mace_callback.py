"""MACE forces, energy and virial into LAMMPS through ``fix external pf/callback``.

The LAMMPS input declares the coupling (units metal)::

    pair_style zero 4.5                    # neighbour lists exist; forces come from MACE
    pair_coeff * *
    fix mace all external pf/callback 1 1  # call MACE every step, apply every step
    fix_modify mace energy yes virial yes  # MACE energy in pe/etotal, virial in press

and :class:`MACECallback` is attached to that fix from Python before ``run``.
LAMMPS then owns integration, thermostats, thermo output, dumps and restarts;
the callback only supplies forces (eV/Angstrom), the global energy (eV) and the
global virial (eV, order xx yy zz xy xz yz).

Atoms are mapped by **tag** (atom ID), never by local index: the callback sorts
the local atoms by tag before calling MACE and scatters the forces back. LAMMPS
atom types map to elements through an explicit ``type_to_element`` list (type 1
is the first entry); the per-type masses are checked against that list, so a
swapped map fails before the first step instead of running with wrong physics.
One MPI rank only (MACE sees the whole cell; ``nlocal`` must equal ``natoms``).
"""
from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
from ase.data import atomic_masses, atomic_numbers, chemical_symbols

from mlh_ipi.lammps.mace_model import MACEPotential

log = logging.getLogger(__name__)

MASS_TOLERANCE = 0.5  # amu; masses in data files are rounded, isotopes do not matter here


def box_cell(lmp) -> tuple[np.ndarray, np.ndarray]:
    """``(origin, cell)`` of the LAMMPS box in Angstrom; cell rows are the lattice vectors."""
    boxlo, boxhi, xy, yz, xz, periodic, _changed = lmp.extract_box()
    if not all(periodic):
        raise ValueError(f"MACE coupling needs a fully periodic box, got periodicity {periodic}")
    lo, hi = np.asarray(boxlo, float), np.asarray(boxhi, float)
    cell = np.array([[hi[0] - lo[0], 0.0, 0.0],
                     [xy, hi[1] - lo[1], 0.0],
                     [xz, yz, hi[2] - lo[2]]])
    return lo, cell


def type_masses(lmp) -> np.ndarray:
    """Per-type masses (amu) from LAMMPS; index 0 is type 1."""
    ntypes = int(lmp.extract_global("ntypes"))
    mass = lmp.numpy.extract_atom("mass")
    if mass is None:
        raise ValueError("LAMMPS has no per-type masses (set them in the data file or script)")
    return np.asarray(mass[1:ntypes + 1], dtype=float).copy()


def elements_from_masses(masses: Sequence[float]) -> list[str]:
    """Element of each type from its mass (nearest standard atomic mass, within 0.5 amu)."""
    out = []
    for t, m in enumerate(masses, start=1):
        z = int(np.argmin(np.abs(atomic_masses[1:] - m))) + 1
        if abs(atomic_masses[z] - m) > MASS_TOLERANCE:
            raise ValueError(f"type {t} mass {m} amu matches no element; give type_to_element")
        out.append(chemical_symbols[z])
    return out


def check_type_map(type_to_element: Sequence[str], masses: Sequence[float]) -> None:
    """``ValueError`` if the map has the wrong length, unknown symbols, or mismatched masses."""
    if len(type_to_element) != len(masses):
        raise ValueError(f"type_to_element {list(type_to_element)} has {len(type_to_element)} "
                         f"entries but LAMMPS has {len(masses)} atom types")
    bad = []
    for t, (sym, m) in enumerate(zip(type_to_element, masses), start=1):
        if sym not in atomic_numbers or sym == "X":
            raise ValueError(f"type {t}: {sym!r} is not a chemical symbol")
        ref = atomic_masses[atomic_numbers[sym]]
        if abs(ref - m) > MASS_TOLERANCE:
            bad.append(f"type {t} -> {sym} ({ref:.3f} amu) but LAMMPS mass {m:.3f} amu")
    if bad:
        raise ValueError("type_to_element does not match the LAMMPS masses (wrong map or "
                             "wrong data file): " + "; ".join(bad))


class MACECallback:
    """Callable for ``lmp.set_fix_external_callback``: MACE forces/energy/virial by tag.

    ``type_to_element``: element symbol of LAMMPS type 1, 2, ...; ``None`` infers
    it from the per-type masses. Every evaluation is timed (``n_calls``,
    ``seconds``) so launchers can report ms/step of the force call.
    """

    def __init__(self, lmp, fix_id: str, potential: MACEPotential,
                 type_to_element: Sequence[str] | None = None):
        self.lmp = lmp
        self.fix_id = fix_id
        self.potential = potential
        masses = type_masses(lmp)
        if type_to_element is None:
            type_to_element = elements_from_masses(masses)
        self.type_to_element = list(type_to_element)
        check_type_map(self.type_to_element, masses)
        self._z_of_type = np.array([0] + [atomic_numbers[s] for s in self.type_to_element])
        types = np.asarray(lmp.numpy.extract_atom("type")[: lmp.extract_global("nlocal")])
        present = sorted({self.type_to_element[t - 1] for t in np.unique(types)})
        potential.check_species(present, where="the LAMMPS structure")
        self.n_calls = 0
        self.seconds = 0.0
        self.last = None  # last MACEResult
        self.error: BaseException | None = None  # first exception raised inside the callback
        self.on_step = None  # optional on_step(ntimestep), e.g. a progress bar

    def attach(self) -> "MACECallback":
        """Register with the fix and switch its energy/virial contributions on.

        An exception inside a ctypes callback cannot propagate through LAMMPS, so
        the callback records it, sets the internal variable ``mace_error`` and a
        ``fix halt`` stops the run with a LAMMPS error at the end of that step;
        :meth:`raise_if_failed` then re-raises the original exception.
        """
        self.lmp.command(f"fix_modify {self.fix_id} energy yes virial yes")
        self.lmp.command("variable mace_error internal 0")
        self.lmp.command("fix mace_halt all halt 1 v_mace_error > 0.5 error hard message yes")
        self.lmp.set_fix_external_callback(self.fix_id, self, None)
        return self

    def raise_if_failed(self) -> None:
        """Re-raise the first exception from inside the callback, if there was one."""
        if self.error is not None:
            raise self.error

    def __call__(self, _caller, ntimestep: int, nlocal: int, tag, x, fext) -> None:
        if self.error is not None:
            fext[:nlocal] = 0.0
            return
        try:
            self._compute(nlocal, tag, x, fext)
            if self.on_step is not None:
                self.on_step(ntimestep)
        except Exception as err:  # noqa: BLE001 - must not unwind through C
            log.error("MACE callback failed at step %d: %s", ntimestep, err)
            self.error = err
            fext[:nlocal] = 0.0
            self.lmp.set_internal_variable("mace_error", 1.0)

    def _compute(self, nlocal: int, tag, x, fext) -> None:
        start = time.perf_counter()
        natoms = int(self.lmp.get_natoms())
        if nlocal != natoms:
            raise RuntimeError(f"MACE callback needs all atoms on one MPI rank "
                               f"({nlocal} local of {natoms})")
        order = np.argsort(np.asarray(tag[:nlocal]).ravel(), kind="stable")
        types = np.asarray(self.lmp.numpy.extract_atom("type")[:nlocal])
        origin, cell = box_cell(self.lmp)
        positions = np.asarray(x[:nlocal])[order] - origin
        result = self.potential.evaluate(self._z_of_type[types[order]], positions, cell)
        forces = np.empty((nlocal, 3))
        forces[order] = result.forces
        fext[:nlocal] = forces
        w = result.virial
        self.lmp.fix_external_set_energy_global(self.fix_id, result.energy)
        self.lmp.fix_external_set_virial_global(
            self.fix_id, [w[0, 0], w[1, 1], w[2, 2], w[0, 1], w[0, 2], w[1, 2]])
        self.last = result
        self.n_calls += 1
        self.seconds += time.perf_counter() - start


__all__ = ["MACECallback", "box_cell", "check_type_map", "elements_from_masses", "type_masses"]
