"""One-call drivers: trajectory files or i-PI extras -> checkpointed statistics -> report.

These are what ``mlh-ipi stream offline|ipi`` call. Online (LAMMPS) runs use
:class:`~mlh_ipi.stream.workers.SnapshotPipeline` with
:func:`~mlh_ipi.stream.sources.lammps_hook` as an MD installer instead.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from mlh_ipi.electronic.defect_levels import edge_rule
from mlh_ipi.stream.outputs import write_report
from mlh_ipi.stream.sources import ipi_extras_records, trajectory_snapshots
from mlh_ipi.stream.state import StreamState
from mlh_ipi.stream.workers import SnapshotPipeline

log = logging.getLogger(__name__)


def stream_offline(trajectories: Sequence[str | os.PathLike], model, out_dir: str | os.PathLike,
                   temperature_k: float, defect: str = "none", fmt: str | None = None,
                   type_map: Sequence[str] | None = None, defect_atoms: Sequence[int] | None = None,
                   every: int = 1, workers: int = 1, maxsize: int = 8,
                   checkpoint_every_s: float = 60.0, checkpoint_every_n: int = 100,
                   report: bool = True, progress: bool = True, valence_states: int | None = None,
                   resonance_ev: float | None = None) -> StreamState:
    """Every ``every``-th frame of each trajectory through the MLH (``h_only``) into ``out_dir``.

    ``defect_atoms``, ``valence_states`` and ``resonance_ev`` (eV): level picking
    (:class:`~mlh_ipi.stream.snapshots.Snapshot`; None: the frames' own ``info``).

    Resumes from ``out_dir/checkpoint.json``: frames already counted are skipped.
    Offline runs always use the ``block`` policy (nothing is dropped).
    """
    meta = {"mode": "offline", "trajectories": [os.fspath(p) for p in trajectories], "every": every,
            **edge_rule(valence_states, resonance_ev)}
    with SnapshotPipeline(model, out_dir, workers=workers, maxsize=maxsize, policy="block",
                          checkpoint_every_s=checkpoint_every_s, checkpoint_every_n=checkpoint_every_n,
                          meta=meta) as pipe:
        for path in trajectories:
            snaps = trajectory_snapshots(path, temperature_k, defect, fmt=fmt, type_map=type_map,
                                         defect_atoms=defect_atoms, every=every,
                                         valence_states=valence_states, resonance_ev=resonance_ev)
            if progress:
                from tqdm import tqdm

                snaps = tqdm(snaps, desc=Path(path).name, unit="frame")
            pipe.submit_all(snaps)
    state = pipe.state
    if report:
        write_report(state, out_dir)
    return state


def stream_ipi(extras_files: Sequence[str | os.PathLike], out_dir: str | os.PathLike, temperature_k: float,
               defect: str = "none", report: bool = True) -> StreamState:
    """Fold the MLH client's per-step extras of i-PI runs (``extra_type="raw"`` files) into ``out_dir``."""
    meta = {"mode": "ipi", "extras": [os.fspath(p) for p in extras_files]}
    with SnapshotPipeline(None, out_dir, workers=0, meta=meta) as pipe:
        for path in extras_files:
            for step, rec in ipi_extras_records(path):
                pipe.submit_record(os.fspath(path), step, temperature_k, defect, rec)
    if report:
        write_report(pipe.state, out_dir)
    return pipe.state


def recompute_statistics(out_dir: str | os.PathLike, report: bool = True) -> StreamState:
    """Rebuild the statistics of a stream folder from its per-snapshot log (``snapshots.jsonl``),
    e.g. after the accumulators gained a quantity; index, counters and settings are kept.

    Only snapshots the checkpoint counted are used, each once; ``ValueError`` when the log does
    not hold every counted snapshot (then the checkpoint's statistics are the only record)."""
    from mlh_ipi.stream.statistics import ElectronicStatistics
    from mlh_ipi.stream.workers import read_snapshot_log

    state = StreamState.load(out_dir)
    stats = ElectronicStatistics(state.stats.bin_width)
    seen = set()
    for rec in read_snapshot_log(out_dir):
        key = (rec["source"], int(rec["step"]))
        if key in seen or key not in state.index:
            continue
        seen.add(key)
        stats.add(rec, rec["temperature_k"], rec["defect"])
    if stats.n_snapshots != state.stats.n_snapshots:
        raise ValueError(f"{out_dir}: the log holds {stats.n_snapshots} of the {state.stats.n_snapshots} "
                         "counted snapshots; statistics not rebuilt")
    state.stats = stats
    state.save(out_dir)
    if report:
        write_report(state, out_dir)
    return state


def merge_runs(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
               report: bool = True) -> StreamState:
    """Pool the checkpoints of several stream folders (Chan merge; a step counted twice is an error)."""
    if not run_dirs:
        raise ValueError("nothing to merge")
    state = StreamState.load(run_dirs[0])
    for d in run_dirs[1:]:
        state.merge(StreamState.load(d))
    state.meta = {"mode": "merge", "runs": [os.fspath(d) for d in run_dirs]}
    state.save(out_dir)
    if report:
        write_report(state, out_dir)
    return state


def stream_md(script: str | os.PathLike, mace_models, structure, temperatures: Sequence[float], steps: int,
              out_dir: str | os.PathLike, mlh_model, every: int, type_map: Sequence[str] | None = None,
              defect: str = "none", defect_atoms: Sequence[int] | None = None, workers: int = 1,
              maxsize: int = 8, policy: str = "drop", checkpoint_every_s: float = 60.0,
              seed: int = 12345, variables: dict | None = None, threads: int | None = None,
              valence_states: int | None = None, resonance_ev: float = 0.0, skip_steps: int = 0):
    """LAMMPS+MACE MD (``mlh_ipi.lammps.md.run_md``) with the on-the-fly MLH stream attached.

    ``defect_atoms``, ``valence_states`` and ``resonance_ev`` (eV): level picking of every
    snapshot (:class:`~mlh_ipi.stream.snapshots.Snapshot`). ``skip_steps``: MD steps of
    equilibration whose snapshots are not counted.

    MD folders go to ``out_dir/T<T>K`` as with ``mlh-ipi md``; the statistics,
    checkpoint and report to ``out_dir/stream``. Each temperature is one source
    (``T<T>K``), so rerunning the command resumes both the MD (restart files) and
    the statistics (steps already counted are skipped). Returns
    ``(md_results, stream_state)``.
    """
    from mlh_ipi.lammps.md import run_md
    from mlh_ipi.stream.sources import lammps_hook

    stream_dir = Path(out_dir) / "stream"
    meta = {"mode": "lammps", "script": os.fspath(script), "every": int(every), "defect": defect,
            "skip_steps": int(skip_steps), **edge_rule(valence_states, resonance_ev)}
    with SnapshotPipeline(mlh_model, stream_dir, workers=workers, maxsize=maxsize, policy=policy,
                          checkpoint_every_s=checkpoint_every_s, meta=meta) as pipe:
        hook = lammps_hook(pipe, every, type_map=type_map, defect=defect, defect_atoms=defect_atoms,
                           valence_states=valence_states, resonance_ev=resonance_ev, skip_steps=skip_steps)
        results = run_md(script, mace_models, structure, temperatures, steps, out_dir,
                         type_to_element=type_map, seed=seed, variables=variables, hooks=[hook],
                         threads=threads)
        hook.raise_if_failed()
    write_report(pipe.state, stream_dir)
    return results, pipe.state
