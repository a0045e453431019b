"""What a stream has counted so far, and its atomic JSON checkpoint.

A checkpoint (``<out>/checkpoint.json``) holds

* the :class:`~mlh_ipi.stream.statistics.ElectronicStatistics`;
* a :class:`ProcessedIndex`: per source (a trajectory file, an MD run), the
  steps already counted, stored as sorted closed intervals ``[[first, last], ...]``
  so millions of steps stay a few numbers;
* the :class:`StreamCounters` (produced / processed / dropped / skipped / failed
  snapshots and the seconds MD spent blocked on a full queue);
* ``meta``: the settings of the run (model, temperature, defect kind, ...).

It is rewritten atomically (:func:`mlh_ipi.atomic_io.write_json`) every
checkpoint interval, so a killed run loses at most one interval: on resume the
statistics and the index are loaded and snapshots whose (source, step) is in the
index are skipped, the others are computed again.
"""
from __future__ import annotations

import bisect
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from mlh_ipi.atomic_io import write_json
from mlh_ipi.stream.statistics import DEFAULT_BIN_WIDTH_EV, ElectronicStatistics

CHECKPOINT_NAME = "checkpoint.json"
CHECKPOINT_VERSION = 1


class ProcessedIndex:
    """Per-source set of integer steps, kept as sorted disjoint closed intervals."""

    def __init__(self, intervals: Mapping[str, list] | None = None):
        self._iv: dict[str, list[list[int]]] = {
            str(k): [list(map(int, p)) for p in v] for k, v in (intervals or {}).items()}

    def __contains__(self, key: tuple[str, int]) -> bool:
        source, step = key
        iv = self._iv.get(str(source))
        if not iv:
            return False
        i = bisect.bisect_right(iv, [step, float("inf")]) - 1
        return i >= 0 and iv[i][0] <= step <= iv[i][1]

    def add(self, source: str, step: int) -> None:
        step = int(step)
        if (source, step) in self:
            return
        iv = self._iv.setdefault(str(source), [])
        i = bisect.bisect_right(iv, [step, float("inf")])
        iv.insert(i, [step, step])
        # merge with the neighbours when adjacent (steps are integers: [a, s-1] + [s, s])
        if i + 1 < len(iv) and iv[i + 1][0] == step + 1:
            iv[i][1] = iv[i + 1][1]
            del iv[i + 1]
        if i > 0 and iv[i - 1][1] == step - 1:
            iv[i - 1][1] = iv[i][1]
            del iv[i]

    def count(self, source: str | None = None) -> int:
        sources = [source] if source is not None else list(self._iv)
        return sum(b - a + 1 for s in sources for a, b in self._iv.get(s, []))

    def merge(self, other: "ProcessedIndex") -> "ProcessedIndex":
        """Union; raises ``ValueError`` if a (source, step) is in both (it would be counted twice)."""
        for s, iv in other._iv.items():
            for a, b in iv:
                for step in range(a, b + 1):
                    if (s, step) in self:
                        raise ValueError(f"step {step} of source {s!r} is counted in both statistics")
                    self.add(s, step)
        return self

    def to_dict(self) -> dict:
        return {k: [list(p) for p in v] for k, v in sorted(self._iv.items())}


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
