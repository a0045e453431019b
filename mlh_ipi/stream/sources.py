"""Where snapshots come from: trajectory files (offline), a LAMMPS run (online), i-PI extras.

* :func:`trajectory_snapshots` reads extxyz (or any ASE format) and LAMMPS text
  dumps (``ase.io.read(format="lammps-dump-text")``, types mapped to elements
  by ``type_map``: type 1 is ``type_map[0]``; atoms sorted by ``id``). The step
  of a frame is its ``info["step"]``, else the dump's ``timestep``, else its index.
* :class:`LammpsSink` turns the :class:`~mlh_ipi.lammps.snapshot_hook.SnapshotHook`'s
  copies into :class:`Snapshot` s and submits them; :func:`lammps_hook` builds
  the hook (an installer for ``run_md(..., hooks=[...])``) in one call.
* :func:`ipi_extras_records` reads the JSON extras an MLH i-PI client already
  computed (band gap, levels: no model needed) for
  :meth:`SnapshotPipeline.submit_record`.

Offline mode runs the same workers and statistics as online mode; it is how
MD results get checked against DFT labels of the same frames.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from ase.io import read

from mlh_ipi.stream.snapshots import Snapshot
from mlh_ipi.stream.statistics import electronic_record

LAMMPS_DUMP = "lammps-dump-text"


def guess_format(path: str | os.PathLike) -> str | None:
    """``lammps-dump-text`` for ``*.dump``/``*.lammpstrj``/``dump.*``, else None (ASE guesses)."""
    name = Path(path).name
    if name.endswith((".dump", ".lammpstrj")) or name.startswith("dump."):
        return LAMMPS_DUMP
    return None


def trajectory_snapshots(path: str | os.PathLike, temperature_k: float, defect: str = "none",
                         fmt: str | None = None, type_map: Sequence[str] | None = None,
                         defect_atoms: Sequence[int] | None = None, every: int = 1,
                         source: str | None = None, valence_states: int | None = None,
                         resonance_ev: float | None = None) -> Iterator[Snapshot]:
    """Snapshots of every ``every``-th frame of a trajectory file (Å); ``source``: its absolute path.
    ``defect_atoms``, ``valence_states``, ``resonance_ev``: level picking (:class:`Snapshot`)."""
    fmt = fmt or guess_format(path)
    kwargs = {}
    if fmt == LAMMPS_DUMP:
        if not type_map:
            raise ValueError(f"{path}: a LAMMPS dump needs a type->element map (e.g. --types Si O)")
        kwargs["specorder"] = list(type_map)
    source = source or os.path.abspath(path)  # the same file is the same source from any cwd
    frames = read(path, index=f"::{int(every)}", format=fmt, **kwargs)
    for k, atoms in enumerate(frames):
        step = atoms.info.get("step", atoms.info.get("timestep", k * int(every)))
        yield Snapshot.from_atoms(atoms, source=source, step=int(step), temperature_k=temperature_k,
                                  defect=defect, defect_atoms=defect_atoms, valence_states=valence_states,
                                  resonance_ev=resonance_ev)


class LammpsSink:
    """``sink(LammpsSnapshot)`` for the snapshot hook: types -> elements, then ``pipeline.submit``.

    ``type_map[t-1]`` is the element of LAMMPS type t; None: the element whose
    standard atomic mass is nearest to the type's mass, read at installation.
    ``temperature_k`` None: the run's LAMMPS variable ``T`` (what ``run_md`` sets)
    at installation. ``source`` names the run (keep it across restarts so that
    resumed runs skip counted steps); None: ``"T<T>K"``. ``keep`` (optional
    list) also keeps every Snapshot handed over, e.g. to write them to extxyz
    for an offline cross-check. ``defect_atoms``, ``valence_states`` and
    ``resonance_ev`` (eV): level picking of every snapshot (:class:`Snapshot`).
    ``skip_steps``: snapshots of MD steps before this one (equilibration) are
    not handed over; the MD itself is untouched.
    """

    def __init__(self, pipeline, type_map: Sequence[str] | None, source: str | None,
                 temperature_k: float | None, defect: str = "none",
                 defect_atoms: Sequence[int] | None = None, keep: list | None = None,
                 valence_states: int | None = None, resonance_ev: float = 0.0, skip_steps: int = 0):
        if skip_steps < 0:
            raise ValueError(f"skip_steps must be >= 0, got {skip_steps}")
        self.pipeline = pipeline
        self.skip_steps = int(skip_steps)
        self.type_map = None if type_map is None else list(type_map)
        self.source = source
        self.temperature_k = None if temperature_k is None else float(temperature_k)
        self.defect = defect
        self.defect_atoms = None if defect_atoms is None else tuple(int(i) for i in defect_atoms)
        self.keep = keep
        self.valence_states = None if valence_states is None else int(valence_states)
        self.resonance_ev = float(resonance_ev)
        self._fixed = (self.type_map, self.source, self.temperature_k)

    def on_install(self, lmp) -> None:
        """Fill what was left None from the LAMMPS instance (called by the hook per run)."""
        from ase.data import atomic_masses, chemical_symbols

        from mlh_ipi.lammps.snapshot_hook import string_variable, type_masses

        type_map, source, temperature_k = self._fixed
        if type_map is None:
            type_map = [chemical_symbols[int(np.argmin(np.abs(atomic_masses[1:] - m))) + 1]
                        for m in type_masses(lmp)]
        if temperature_k is None:
            value = string_variable(lmp, "T")
            if value is None:
                raise ValueError("no temperature given and the LAMMPS run has no variable T")
            temperature_k = float(value)
        self.type_map, self.temperature_k = type_map, temperature_k
        self.source = source or f"T{temperature_k:g}K"

    def __call__(self, snap) -> None:
        if self.type_map is None or self.temperature_k is None:
            raise RuntimeError("LammpsSink needs type_map and temperature_k (or on_install)")
        if snap.step < self.skip_steps:
            return
        if snap.types.max() > len(self.type_map) or snap.types.min() < 1:
            raise ValueError(f"LAMMPS types {sorted(set(snap.types.tolist()))} not covered by the "
                             f"type map {self.type_map}")
        symbols = tuple(self.type_map[t - 1] for t in snap.types)
        s = Snapshot(source=self.source, step=snap.step, symbols=symbols, positions=snap.positions,
                     cell=snap.cell, temperature_k=self.temperature_k, defect=self.defect,
                     defect_atoms=self.defect_atoms, valence_states=self.valence_states,
                     resonance_ev=self.resonance_ev)
        if self.keep is not None:
            self.keep.append(s)
        self.pipeline.submit(s)


def lammps_hook(pipeline, every: int, type_map: Sequence[str] | None = None, source: str | None = None,
                temperature_k: float | None = None,
                defect: str = "none", defect_atoms: Sequence[int] | None = None, keep: list | None = None,
                valence_states: int | None = None, resonance_ev: float = 0.0, skip_steps: int = 0):
    """A :class:`~mlh_ipi.lammps.snapshot_hook.SnapshotHook` feeding ``pipeline`` every ``every`` steps
    from step ``skip_steps`` on (:class:`LammpsSink`)."""
    from mlh_ipi.lammps.snapshot_hook import SnapshotHook

    sink = LammpsSink(pipeline, type_map, source, temperature_k, defect, defect_atoms, keep,
                      valence_states=valence_states, resonance_ev=resonance_ev, skip_steps=skip_steps)
    return SnapshotHook(sink, every=every)


def ipi_extras_records(path: str | os.PathLike) -> list[tuple[int, dict]]:
    """``(step, record)`` per step of an i-PI ``extra_type="raw"`` trajectory written by the MLH client."""
    from mlh_ipi.ipi.inputs import read_raw_extras

    out = []
    for k, extras in enumerate(read_raw_extras(path)):
        if "band_gap" not in extras:
            raise ValueError(f"{path}: step {k} has no band_gap in its extras (not an MLH client?)")
        out.append((k, electronic_record(extras)))
    return out


def write_snapshots_extxyz(path: str | os.PathLike, snaps: Sequence[Snapshot]) -> None:
    """Write snapshots as extxyz with ``step`` and ``stream_source`` in each frame's info.

    For offline re-analysis and DFT labelling of the same frames (labels keep the
    info, so :mod:`mlh_ipi.stream.dft_check` can match them to the records).
    """
    from ase.io import write

    from mlh_ipi.atomic_io import atomic_path

    frames = []
    for s in snaps:
        at = s.to_atoms()
        at.info["step"] = s.step
        at.info["stream_source"] = s.source
        frames.append(at)
    with atomic_path(path, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")

