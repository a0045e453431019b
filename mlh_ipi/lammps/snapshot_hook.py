"""A strided LAMMPS snapshot hook: copy positions, box and types every N steps, change nothing.

``SnapshotHook(sink, every=N)`` is an *installer* (``callable(lmp) -> None``,
the form ``run_md(..., hooks=[...])`` takes): called on a set-up LAMMPS
instance before ``run``, it adds ::

    fix <fix_id> <group> external pf/callback N N

(call and apply every N steps: the zeroed array is the only thing ever added)
and registers a callback that, every N steps (and once at the setup of each
``run``),

1. zeroes its own force contribution (``fexternal``; energy and virial are not
   tallied: ``fix_modify energy/virial`` stay off), so the trajectory is
   bit-identical with and without the hook;
2. copies positions (Å, ordered by atom tag: row i is the atom with tag i+1),
   the cell (Å, rows a, b, c of the LAMMPS box, origin at ``boxlo``) and the
   LAMMPS types in the same order into a :class:`LammpsSnapshot`;
3. hands it to ``sink(snapshot)`` and returns.

If the sink has an ``on_install(lmp)`` method it is called at installation
(e.g. to read the run's temperature variable or the type masses).

All heavy work happens in the sink's consumer (``mlh_ipi.stream``): a bounded
queue feeding worker processes, with an explicit back-pressure policy. The
hook assumes ``units metal`` (Å) and one MPI rank (the callback only sees the
rank's local atoms; it raises if that is not all of them).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LammpsSnapshot:
    """One MD frame: ``step``, ``positions`` (N, 3) Å and ``types`` (N,) in tag order, ``cell`` (3, 3) Å."""

    step: int
    positions: np.ndarray
    cell: np.ndarray
    types: np.ndarray


def box_cell(lmp) -> tuple[np.ndarray, np.ndarray]:
    """``(cell, origin)`` of the current LAMMPS box (Å): rows a=(lx,0,0), b=(xy,ly,0), c=(xz,yz,lz)."""
    boxlo, boxhi, xy, yz, xz, _periodicity, _box_change = lmp.extract_box()
    lx, ly, lz = (boxhi[i] - boxlo[i] for i in range(3))
    cell = np.array([[lx, 0.0, 0.0], [xy, ly, 0.0], [xz, yz, lz]])
    return cell, np.asarray(boxlo, float)


class SnapshotHook:
    """Installer of the strided snapshot fix; ``sink(LammpsSnapshot)`` receives the copies.

    Counters: ``calls`` (snapshots handed to the sink) and ``seconds`` (wall time
    spent inside the callback, i.e. what the hook costs the MD process).

    An exception in the callback cannot stop LAMMPS (ctypes swallows it), so the
    hook keeps the first one in ``error``, stops calling the sink, and
    :meth:`raise_if_failed` re-raises it after ``run`` returns.
    """

    def __init__(self, sink: Callable[[LammpsSnapshot], None], every: int,
                 fix_id: str = "mlh_snapshots", group: str = "all"):
        if int(every) < 1:
            raise ValueError(f"snapshot stride must be >= 1 step, got {every}")
        self.sink = sink
        self.every = int(every)
        self.fix_id = fix_id
        self.group = group
        self.calls = 0
        self.seconds = 0.0
        self._last_step: int | None = None
        self.error: BaseException | None = None

    def __call__(self, lmp) -> None:
        """Install the fix on ``lmp`` (a ``lammps.lammps`` instance after the setup commands)."""
        on_install = getattr(self.sink, "on_install", None)
        if on_install is not None:  # the sink may read run settings (variables, masses) first
            on_install(lmp)
        self._last_step = None
        lmp.command(f"fix {self.fix_id} {self.group} external pf/callback {self.every} {self.every}")
        lmp.set_fix_external_callback(self.fix_id, self._callback, lmp)

    def uninstall(self, lmp) -> None:
        lmp.command(f"unfix {self.fix_id}")

    def raise_if_failed(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"snapshot hook failed during the run: {self.error}") from self.error

    def _callback(self, lmp, ntimestep, nlocal, tag, x, fexternal) -> None:
        fexternal[:] = 0.0
        if self.error is not None:
            return
        try:
            self._snapshot(lmp, ntimestep, nlocal, tag, x)
        except BaseException as err:  # noqa: BLE001 - kept and re-raised after the run
            self.error = err

    def _snapshot(self, lmp, ntimestep, nlocal, tag, x) -> None:
        t0 = time.perf_counter()
        step = int(ntimestep)
        if step == self._last_step:  # setup of a following "run" repeats the last step
            self.seconds += time.perf_counter() - t0
            return
        natoms = int(lmp.get_natoms())
        if nlocal != natoms:
            raise RuntimeError(f"snapshot hook sees {nlocal} of {natoms} atoms: it needs one MPI rank")
        order = np.argsort(np.asarray(tag).reshape(-1), kind="stable")
        types = np.asarray(lmp.numpy.extract_atom("type", nelem=nlocal)).reshape(-1)
        cell, origin = box_cell(lmp)
        snap = LammpsSnapshot(step=step, positions=np.array(x[order], dtype=float) - origin,
                              cell=cell, types=np.array(types[order], dtype=int))
        self._last_step = step
        self.calls += 1
        self.sink(snap)
        self.seconds += time.perf_counter() - t0


def type_masses(lmp) -> np.ndarray:
    """Mass (amu) of LAMMPS types 1..ntypes."""
    ntypes = int(lmp.extract_global("ntypes"))
    return np.asarray(lmp.numpy.extract_atom("mass", nelem=ntypes + 1), float).reshape(-1)[1:ntypes + 1]


def string_variable(lmp, name: str) -> str | None:
    """Value of a LAMMPS string/index variable, or None if it is not defined."""
    try:
        value = lmp.extract_variable(name)
    except Exception:  # noqa: BLE001 - undefined variables raise in recent LAMMPS
        return None
    return None if value is None else str(value)


__all__ = ["LammpsSnapshot", "SnapshotHook", "box_cell", "string_variable", "type_masses"]
