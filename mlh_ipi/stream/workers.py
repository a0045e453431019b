"""Bounded snapshot queue, MLH worker processes and the collector that folds their results in.

::

    producer (MD callback / file reader)
        │ submit(snapshot)        policy "block": wait for a free slot (time counted)
        ▼                         policy "drop":  queue full -> discard (counted)
    bounded queue (maxsize)
        ▼
    worker processes (spawn; each loads the model once, 1 thread)
        │ MLHCalculator(model, mode="h_only") -> band gap, VBM, CBM, defect levels
        ▼
    result queue -> collector thread -> StreamState (statistics, processed index,
                                        counters) -> checkpoint.json every interval
                                        + one line per snapshot in snapshots.jsonl

``workers=0`` computes inline in the producer's thread (offline analysis on
one core, tests); MD would then wait for every snapshot.

Accounting: every submitted snapshot is either *skipped* (its (source, step)
is already in the processed index: resume), or *produced*; a produced
snapshot ends up *processed*, *dropped* or *failed*, so after :meth:`close`
``produced == processed + dropped + failed``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from pathlib import Path
from typing import Iterable

from mlh_ipi.atomic_io import write_json, write_text
from mlh_ipi.stream.snapshots import Snapshot
from mlh_ipi.stream.state import CHECKPOINT_NAME, StreamState
from mlh_ipi.stream.statistics import DEFAULT_BIN_WIDTH_EV, electronic_record

log = logging.getLogger(__name__)

POLICIES = ("block", "drop")
# meta keys that decide every snapshot's numbers: a run resumed with other values would pool
# statistics of two definitions, so resuming refuses it (absent in an old checkpoint: None, the
# only behaviour that existed before the key was recorded)
RESUME_FIXED_META = ("model", "valence_states", "resonance_ev")
SNAPSHOT_LOG = "snapshots.jsonl"
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class SnapshotEvaluator:
    """``Snapshot`` -> per-snapshot record (eV) with one ``MLHCalculator(mode="h_only")``."""

    def __init__(self, model):
        from mlh_ipi.calculator import MLHCalculator

        self.calc = MLHCalculator(model, mode="h_only")

    def __call__(self, snap: Snapshot) -> dict:
        """The electronic record, with the band-edge count and resonance window it was picked with
        (``valence_states``: None = occupation; ``level_resonance_ev``), so a DFT check can
        refuse to compare against a label picked another way."""
        from mlh_ipi.electronic.defect_levels import edge_rule, level_picking_from_info

        atoms = snap.to_atoms()
        self.calc.calculate(atoms, properties=[])
        rec = electronic_record(self.calc.electronic)
        picking = level_picking_from_info(atoms.info)
        rule = edge_rule(picking["valence_states"], picking["resonance_ev"])
        rec["valence_states"], rec["level_resonance_ev"] = rule["valence_states"], rule["resonance_ev"]
        return rec


def _worker_main(model: str, threads: int, tasks, results, worker_id: int, niceness: int = 0) -> None:
    """Worker process: load the model once, then evaluate snapshots until the ``None`` sentinel.

    ``niceness`` is applied after the model has loaded: a worker that starts at nice 19
    on busy cores gets a few per cent of a core and took more than 15 minutes to load
    (seen in CI while other jobs were running), while the MD waits for it to be ready."""
    import torch

    torch.set_num_threads(threads)
    try:
        evaluate = SnapshotEvaluator(model)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which stops
        results.put(("fatal", worker_id, f"worker {worker_id} could not load {model}: {err}"))
        return
    if niceness:
        os.nice(niceness)  # from now on, yield the CPU to MD when cores are oversubscribed
    results.put(("ready", worker_id, None))
    while True:
        snap = tasks.get()
        if snap is None:
            break
        t0 = time.perf_counter()
        try:
            rec = evaluate(snap)
        except Exception as err:  # noqa: BLE001 - one bad snapshot is reported, not fatal here
            results.put(("error", worker_id, (_key(snap), f"{type(err).__name__}: {err}")))
            continue
        results.put(("result", worker_id, (_key(snap), rec, time.perf_counter() - t0)))
    results.put(("done", worker_id, None))


def _key(snap: Snapshot) -> tuple[str, int, float, str]:
    return (snap.source, snap.step, snap.temperature_k, snap.defect)


@contextlib.contextmanager
def _environment(**values: str):
    """Temporarily set environment variables (the spawned child copies them at start)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _same_setting(key: str, old, new) -> bool:
    if key == "model" and old is not None and new is not None:
        return Path(old).resolve() == Path(new).resolve()
    return old == new


def _check_resume_meta(stored: dict, new: dict, out_dir: Path) -> None:
    """``ValueError`` when a resumed run would change a setting in :data:`RESUME_FIXED_META`."""
    changed = [f"{k}: {stored.get(k)!r} -> {new.get(k)!r}" for k in RESUME_FIXED_META
               if not _same_setting(k, stored.get(k), new.get(k))]
    if changed:
        raise ValueError(f"{out_dir} holds statistics made with other settings ({'; '.join(changed)}); "
                         "resuming would pool two definitions. Use a new output folder, or the "
                         "settings of the first run")


class SnapshotPipeline:
    """Bounded queue + worker processes + checkpointed statistics in ``out_dir``.

    ``model``: checkpoint path or committee folder (workers load it themselves);
    None for a pipeline that only takes ready records (:meth:`submit_record`).
    ``policy``: ``"block"`` (the producer waits when ``maxsize`` snapshots are
    queued; the wait is counted in ``blocked_s``) or ``"drop"`` (the snapshot is
    discarded and counted in ``dropped``; the producer never waits).
    ``checkpoint_every_s`` / ``checkpoint_every_n``: write ``checkpoint.json``
    when either many seconds or results have passed since the last one.
    ``fail_fast``: a worker error makes the next :meth:`submit` raise.
    ``niceness``: workers run at this lower scheduling priority (``os.nice``) so
    that on oversubscribed cores the MD process keeps its CPU time.

    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(self, model, out_dir: str | os.PathLike, workers: int = 1, maxsize: int = 8,
                 policy: str = "block", checkpoint_every_s: float = 60.0,
                 checkpoint_every_n: int = 1000, threads_per_worker: int = 1,
                 bin_width: float = DEFAULT_BIN_WIDTH_EV, meta: dict | None = None,
                 fail_fast: bool = True, wait_ready: bool = True, niceness: int = 19):
        if policy not in POLICIES:
            raise ValueError(f"back-pressure policy must be one of {POLICIES}, got {policy!r}")
        if workers < 0 or maxsize < 1:
            raise ValueError(f"need workers >= 0 and maxsize >= 1, got {workers}, {maxsize}")
        self.model = None if model is None else os.fspath(model)
        self.out_dir = Path(out_dir)
        self.n_workers = int(workers)
        self.maxsize = int(maxsize)
        self.policy = policy
        self.checkpoint_every_s = float(checkpoint_every_s)
        self.checkpoint_every_n = int(checkpoint_every_n)
        self.threads_per_worker = int(threads_per_worker)
        self.fail_fast = fail_fast
        self.wait_ready = wait_ready
        self.niceness = int(niceness)
        self.state = StreamState.load_or_new(self.out_dir, bin_width)
        self.resumed = self.state.stats.n_snapshots > 0 or self.state.index.count() > 0
        new_meta = {**(meta or {}), "model": self.model}
        if self.resumed:
            _check_resume_meta(self.state.meta, new_meta, self.out_dir)
        self.state.meta.update(new_meta)
        self.state.meta.update({"policy": policy, "workers": self.n_workers, "maxsize": self.maxsize})
        self.worker_seconds = 0.0  # model time summed over snapshots
        self._lock = threading.RLock()
        self._fatal: str | None = None
        self._since_ckpt = 0
        self._last_ckpt = time.monotonic()
        self._log_lines: list[str] = []
        self._procs: list = []
        self._tasks = self._results = None
        self._collector: threading.Thread | None = None
        self._evaluate: SnapshotEvaluator | None = None
        self._started = self._closed = False
        self._done_workers: set[int] = set()

    # --- life cycle ---------------------------------------------------------------------
    def start(self) -> "SnapshotPipeline":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._trim_snapshot_log()
        if self.model is None:
            self.n_workers = 0
        elif self.n_workers == 0:
            self._evaluate = SnapshotEvaluator(self.model)
        else:
            ctx = mp.get_context("spawn")
            self._tasks = ctx.Queue(self.maxsize)
            self._results = ctx.Queue()
            one = str(self.threads_per_worker)
            with _environment(**{v: one for v in _THREAD_VARS}):
                for i in range(self.n_workers):
                    p = ctx.Process(target=_worker_main, name=f"mlh-stream-worker-{i}", daemon=True,
                                    args=(self.model, self.threads_per_worker, self._tasks, self._results, i,
                                          self.niceness))
                    p.start()
                    self._procs.append(p)
            ready = self._wait_ready() if self.wait_ready else None
            self._collector = threading.Thread(target=self._collect, name="mlh-stream-collector", daemon=True)
            self._collector.start()
            if ready is not None:
                log.info("stream: %d worker(s) ready in %.1f s", self.n_workers, ready)
        self._started = True
        log.info("stream: %s, policy %s, queue %d, %s", "resumed" if self.resumed else "new run",
                 self.policy, self.maxsize, self.out_dir)
        return self

    READY_TIMEOUT_S = 600.0  # a worker that is alive but not ready after this long is an error, not a wait

    def _wait_ready(self) -> float:
        t0, ready = time.monotonic(), set()
        while len(ready) < self.n_workers:
            try:
                kind, wid, payload = self._results.get(timeout=0.5)
            except queue.Empty:
                if time.monotonic() - t0 > self.READY_TIMEOUT_S:
                    self._terminate()
                    raise RuntimeError(f"{self.n_workers - len(ready)} stream worker(s) not ready after "
                                       f"{self.READY_TIMEOUT_S:.0f} s (alive, but the model never loaded)") from None
                dead = [p for p in self._procs if not p.is_alive()]
                if dead:
                    self._terminate()
                    raise RuntimeError(f"stream worker {dead[0].name} exited with code "
                                       f"{dead[0].exitcode} before it was ready") from None
                continue
            if kind == "fatal":
                self._terminate()
                raise RuntimeError(payload)
            ready.add(wid)
        return time.monotonic() - t0

    def __enter__(self) -> "SnapshotPipeline":
        return self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._terminate()
            self.checkpoint()

    def close(self) -> StreamState:
        """Process what is queued, stop the workers, write the final checkpoint; the state."""
        if self._closed:
            return self.state
        if self.n_workers:
            try:
                for _ in self._procs:
                    self._put_waiting(None)
            except RuntimeError:
                self._terminate()
            self._collector.join()
            for p in self._procs:
                p.join(timeout=30)
        self._closed = True
        self.checkpoint()
        c = self.state.counters
        log.info("stream: produced %d, processed %d, dropped %d, skipped %d, failed %d, blocked %.2f s",
                 c.produced, c.processed, c.dropped, c.skipped, c.failed, c.blocked_s)
        if self._fatal:
            raise RuntimeError(self._fatal)
        return self.state

    def _terminate(self) -> None:
        for p in self._procs:
            if p.is_alive():
                p.terminate()
        self._closed = True

    # --- producer side --------------------------------------------------------------------
    def submit(self, snap: Snapshot) -> bool:
        """Offer one snapshot; True if it was queued (or computed inline), False if skipped/dropped."""
        if not self._started or self._closed:
            raise RuntimeError("submit() needs a started, open pipeline")
        if self._fatal:
            raise RuntimeError(self._fatal)
        if self.model is None:
            raise RuntimeError("this pipeline has no model: use submit_record()")
        with self._lock:
            if (snap.source, snap.step) in self.state.index:
                self.state.counters.skipped += 1
                return False
            self.state.counters.produced += 1
        if self.n_workers == 0:
            t0 = time.perf_counter()
            try:
                rec = self._evaluate(snap)
            except Exception as err:  # noqa: BLE001
                self._on_error(_key(snap), f"{type(err).__name__}: {err}")
                return False
            self._on_result(_key(snap), rec, time.perf_counter() - t0)
            return True
        try:
            self._tasks.put_nowait(snap)
            return True
        except queue.Full:
            if self.policy == "drop":
                with self._lock:
                    self.state.counters.dropped += 1
                return False
        t0 = time.perf_counter()
        try:
            self._put_waiting(snap)
        finally:
            with self._lock:
                self.state.counters.blocked_s += time.perf_counter() - t0
        return True

    def _put_waiting(self, item) -> None:
        """Blocking put that gives up (RuntimeError) if the workers are gone."""
        while True:
            try:
                self._tasks.put(item, timeout=0.5)
                return
            except queue.Full:
                if self._fatal:
                    raise RuntimeError(self._fatal) from None
                if not any(p.is_alive() for p in self._procs):
                    raise RuntimeError("all stream workers have exited") from None

    def submit_record(self, source: str, step: int, temperature_k: float, defect: str, record: dict) -> bool:
        """Fold in a record computed elsewhere (i-PI client extras); False if already counted."""
        with self._lock:
            if (source, step) in self.state.index:
                self.state.counters.skipped += 1
                return False
            self.state.counters.produced += 1
        self._on_result((source, int(step), float(temperature_k), defect), record, 0.0)
        return True

    def submit_all(self, snaps: Iterable[Snapshot]) -> None:
        for s in snaps:
            self.submit(s)

    # --- consumer side -----------------------------------------------------------------
    def _collect(self) -> None:
        while len(self._done_workers) < self.n_workers:
            try:
                kind, wid, payload = self._results.get(timeout=0.5)
            except queue.Empty:
                dead = [p.name for i, p in enumerate(self._procs)
                        if not p.is_alive() and i not in self._done_workers]
                if dead:
                    self._fatal = self._fatal or f"stream worker(s) died: {dead}"
                    break
                self._maybe_checkpoint()
                continue
            if kind == "result":
                self._on_result(*payload)
            elif kind == "error":
                self._on_error(*payload)
            elif kind == "done":
                self._done_workers.add(wid)
            elif kind == "fatal":
                self._fatal = payload

    def _on_result(self, key, rec: dict, seconds: float) -> None:
        source, step, temperature_k, defect = key
        with self._lock:
            self.state.stats.add(rec, temperature_k, defect)
            self.state.index.add(source, step)
            self.state.counters.processed += 1
            self.worker_seconds += seconds
            self._log_lines.append(json.dumps({"source": source, "step": step, "temperature_k": temperature_k,
                                               "defect": defect, **rec}))
            self._since_ckpt += 1
        self._maybe_checkpoint()

    def _on_error(self, key, message: str) -> None:
        with self._lock:
            self.state.counters.failed += 1
            self.state.errors.append(f"{key[0]} step {key[1]}: {message}")
            if self.fail_fast:
                self._fatal = self._fatal or f"snapshot {key[1]} of {key[0]} failed: {message}"
        log.error("stream: snapshot %s of %s failed: %s", key[1], key[0], message)

    def _maybe_checkpoint(self) -> None:
        if (self._since_ckpt >= self.checkpoint_every_n
                or (self._since_ckpt and time.monotonic() - self._last_ckpt >= self.checkpoint_every_s)):
            self.checkpoint()

    def checkpoint(self) -> Path:
        """Append the new per-snapshot lines, then write ``checkpoint.json`` atomically.

        The state is copied under the lock and written outside it, so a producer
        never waits for the disk.
        """
        with self._lock:
            payload, lines = self.state.to_dict(), self._log_lines
            self._log_lines = []
            self._since_ckpt = 0
            self._last_ckpt = time.monotonic()
        if lines:
            with open(self.out_dir / SNAPSHOT_LOG, "a") as fh:
                fh.write("\n".join(lines) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        path = self.out_dir / CHECKPOINT_NAME
        write_json(path, payload)
        return path

    def _trim_snapshot_log(self) -> None:
        """On resume, keep only log lines of snapshots the checkpoint counted (once each)."""
        path = self.out_dir / SNAPSHOT_LOG
        if not path.is_file():
            return
        kept, seen = [], set()
        for line in path.read_text().splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a kill
                continue
            key = (d["source"], d["step"])
            if key in self.state.index and key not in seen:
                seen.add(key)
                kept.append(line)
        write_text(path, "".join(k + "\n" for k in kept))


def read_snapshot_log(out_dir: str | os.PathLike) -> list[dict]:
    """The per-snapshot records of a stream folder (``snapshots.jsonl``), in completion order."""
    path = Path(out_dir) / SNAPSHOT_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
