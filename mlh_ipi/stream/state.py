"""What a stream has counted so far, and its atomic JSON checkpoint.

A checkpoint (``<out>/checkpoint.json``) holds

* the :class:`~mlh_ipi.stream.statistics.ElectronicStatistics`;
* a :class:`ProcessedIndex`: per source (a trajectory file, an MD run), the
  steps already counted, stored as arithmetic runs ``[[first, last, stride], ...]``
  so a long strided run stays a few numbers;
* the :class:`StreamCounters` (produced / processed / dropped / skipped / failed
  snapshots and the seconds MD spent blocked on a full queue);
* ``meta``: the settings of the run (model, temperature, defect kind, ...).

It is rewritten atomically (:func:`mlh_ipi.atomic_io.write_json`) every
checkpoint interval, so a killed run loses at most one interval: on resume the
statistics and the index are loaded and snapshots whose (source, step) is in the
index are skipped, the others are computed again.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from mlh_ipi.atomic_io import write_json
from mlh_ipi.stream.statistics import DEFAULT_BIN_WIDTH_EV, ElectronicStatistics

CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_VERSION = 1


class ProcessedIndex:
    """Per-source set of integer steps already counted.

    In memory a set per source; on disk runs of an arithmetic progression
    ``[first, last, stride]`` (greedy encoding of the sorted steps), so a strided
    MD source of any length is a few numbers.
    """

    def __init__(self, runs: Mapping[str, list] | None = None):
        self._steps: dict[str, set[int]] = {}
        for source, rs in (runs or {}).items():
            steps = self._steps.setdefault(str(source), set())
            for r in rs:
                first, last, stride = (int(r[0]), int(r[1]), int(r[2]) if len(r) > 2 else 1)
                steps.update(range(first, last + 1, max(stride, 1)))

    def __contains__(self, key: tuple[str, int]) -> bool:
        source, step = key
        return int(step) in self._steps.get(str(source), ())

    def add(self, source: str, step: int) -> None:
        self._steps.setdefault(str(source), set()).add(int(step))

    def count(self, source: str | None = None) -> int:
        sources = [str(source)] if source is not None else list(self._steps)
        return sum(len(self._steps.get(s, ())) for s in sources)

    def merge(self, other: "ProcessedIndex") -> "ProcessedIndex":
        """Union; raises ``ValueError`` if a (source, step) is in both (it would be counted twice)."""
        for source, steps in other._steps.items():
            mine = self._steps.setdefault(source, set())
            both = mine & steps
            if both:
                raise ValueError(f"step {min(both)} of source {source!r} is counted in both statistics")
            mine |= steps
        return self

    @staticmethod
    def _runs(steps: set[int]) -> list[list[int]]:
        runs: list[list[int]] = []
        for s in sorted(steps):
            if runs:
                first, last, stride = runs[-1]
                if first == last:               # a single step: the next one sets the stride
                    runs[-1] = [first, s, s - first]
                    continue
                if s - last == stride:
                    runs[-1][1] = s
                    continue
            runs.append([s, s, 1])
        return runs

    def to_dict(self) -> dict:
        return {k: self._runs(v) for k, v in sorted(self._steps.items())}


@dataclass
class StreamCounters:
    """Snapshot accounting of a stream (see docs/stream.md, back-pressure)."""

    produced: int = 0       # snapshots offered to the queue (not counting skipped ones)
    processed: int = 0      # results folded into the statistics
    dropped: int = 0        # policy "drop": the queue was full, snapshot discarded
    skipped: int = 0        # already in the processed index (resume)
    failed: int = 0         # the worker raised (error kept in StreamState.errors)
    blocked_s: float = 0.0  # policy "block": seconds the producer waited on a full queue

    def merge(self, other: "StreamCounters") -> "StreamCounters":
        for k, v in asdict(other).items():
            setattr(self, k, getattr(self, k) + v)
        return self


@dataclass
class StreamState:
    """Statistics + processed index + counters + run settings; JSON checkpoint round trip."""

    stats: ElectronicStatistics = field(default_factory=ElectronicStatistics)
    index: ProcessedIndex = field(default_factory=ProcessedIndex)
    counters: StreamCounters = field(default_factory=StreamCounters)
    meta: dict = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"version": CHECKPOINT_VERSION, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "meta": self.meta, "counters": asdict(self.counters), "errors": self.errors[-20:],
                "processed_index": self.index.to_dict(), "statistics": self.stats.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "StreamState":
        if d.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"stream checkpoint version {d.get('version')} (this mlh-ipi reads "
                             f"{CHECKPOINT_VERSION})")
        return cls(stats=ElectronicStatistics.from_dict(d["statistics"]),
                   index=ProcessedIndex(d["processed_index"]),
                   counters=StreamCounters(**d["counters"]), meta=dict(d["meta"]),
                   errors=list(d.get("errors", [])))

    def save(self, out_dir: str | Path) -> Path:
        path = Path(out_dir) / CHECKPOINT_NAME
        write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, out_dir: str | Path) -> "StreamState":
        import json

        path = Path(out_dir)
        if path.is_dir():
            path = path / CHECKPOINT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no stream checkpoint at {path}")
        return cls.from_dict(json.loads(path.read_text()))

    @classmethod
    def load_or_new(cls, out_dir: str | Path, bin_width: float = DEFAULT_BIN_WIDTH_EV) -> "StreamState":
        """The checkpoint in ``out_dir`` if there is one (resume), else an empty state."""
        if (Path(out_dir) / CHECKPOINT_NAME).is_file():
            return cls.load(out_dir)
        return cls(stats=ElectronicStatistics(bin_width))

    def merge(self, other: "StreamState") -> "StreamState":
        """Pool two runs: statistics (Chan), processed indices (disjoint) and counters."""
        self.index.merge(other.index)
        self.stats.merge(other.stats)
        self.counters.merge(other.counters)
        self.errors.extend(other.errors)
        return self
