"""Streaming, mergeable statistics of per-snapshot electronic quantities (eV).

:class:`RunningMoments` is Welford's one-pass mean/variance; two of them merge
exactly with the parallel formula of Chan, Golub and LeVeque (1979)::

    n = n_a + n_b,  d = mean_b - mean_a,
    mean = mean_a + d n_b / n,   M2 = M2_a + M2_b + d^2 n_a n_b / n,

so partial statistics from several workers, runs or checkpoints combine into
the statistics of the pooled values. ``std`` is the population standard
deviation (``numpy.std`` default, ``ddof=0``): the *thermal broadening* of a
quantity over the MD snapshots of one temperature.

:class:`StreamingHistogram` counts values in fixed-width bins ``floor(x / width)``
(sparse, unbounded range), so it merges by adding counts.

:class:`ElectronicStatistics` keeps one :class:`GroupStatistics` per
(temperature in K, defect kind) and feeds it the per-snapshot records made by
:func:`electronic_record` from ``MLHCalculator.electronic``:

* ``band_gap``, ``vbm``, ``cbm``: host-like edges (eV);
* ``level{k}``, ``level{k}_above_vbm``, ``level{k}_below_cbm``: the k-th
  defect level counted from the bottom (eV), over the snapshots that have at
  least k+1 levels;
* ``level{k}_resonant``: 1 where that level lies outside the host gap (a state
  resonant in a band, reported when level picking has a resonance window), else
  0 -- its mean is the fraction of those snapshots in which level k is resonant;
* ``n_levels``: number of defect levels per snapshot; ``n_in_gap``: how many of
  them lie inside the gap (equal to ``n_levels`` without a resonance window);
* by character, over the snapshots that have one (an index k mixes states when a
  level drops out of the picking in one snapshot): ``gap_level_above_vbm``, the
  lowest in-gap level; ``vb_level_below_vbm`` (>= 0), the highest level resonant
  in the valence band; ``cb_level_above_cbm`` (>= 0), the lowest level resonant
  in the conduction band;
* ``band_gap_committee_std``, ``h_max_committee_std``: the committee spread of
  each snapshot (eV) -- its mean is the model-uncertainty error bar shown next
  to the thermal broadening;
* histograms of all levels relative to the CBM and to the VBM (resonant ones
  fall outside [0, gap]).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

DEFAULT_BIN_WIDTH_EV = 0.05


@dataclass
class RunningMoments:
    """Count, mean and sum of squared deviations (M2) of a stream of floats; min and max."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def add(self, x: float) -> None:
        """Welford update with one value."""
        x = float(x)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)
        self.min = min(self.min, x)
        self.max = max(self.max, x)

    def extend(self, values: Iterable[float]) -> None:
        for x in values:
            self.add(x)

    def merge(self, other: "RunningMoments") -> "RunningMoments":
        """Fold ``other`` into ``self`` (Chan et al. parallel formula); returns ``self``."""
        if other.n == 0:
            return self
        if self.n == 0:
            self.n, self.mean, self.m2 = other.n, other.mean, other.m2
            self.min, self.max = other.min, other.max
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        self.mean += delta * other.n / n
        self.m2 += other.m2 + delta * delta * self.n * other.n / n
        self.n = n
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        return self

    def variance(self, ddof: int = 0) -> float:
        return self.m2 / (self.n - ddof) if self.n > ddof else math.nan

    def std(self, ddof: int = 0) -> float:
        """Population (``ddof=0``, numpy's default) or sample (``ddof=1``) standard deviation."""
        return math.sqrt(max(self.variance(ddof), 0.0)) if self.n > ddof else math.nan

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "m2": self.m2,
                "min": self.min if self.n else None, "max": self.max if self.n else None}

    @classmethod
    def from_dict(cls, d: Mapping) -> "RunningMoments":
        n = int(d["n"])
        return cls(n=n, mean=float(d["mean"]), m2=float(d["m2"]),
                   min=float(d["min"]) if n else math.inf, max=float(d["max"]) if n else -math.inf)


@dataclass
class StreamingHistogram:
    """Counts in bins ``[k w, (k+1) w)`` of width ``w`` (eV); sparse and mergeable."""

    width: float = DEFAULT_BIN_WIDTH_EV
    counts: dict[int, int] = field(default_factory=dict)

    def add(self, x: float) -> None:
        k = int(math.floor(float(x) / self.width))
        self.counts[k] = self.counts.get(k, 0) + 1

    def merge(self, other: "StreamingHistogram") -> "StreamingHistogram":
        if other.width != self.width:
            raise ValueError(f"cannot merge histograms of bin widths {self.width} and {other.width} eV")
        for k, c in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + c
        return self

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def edges_and_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Contiguous bin edges (eV) and counts from the lowest to the highest occupied bin."""
        if not self.counts:
            return np.zeros(1), np.zeros(0, int)
        lo, hi = min(self.counts), max(self.counts)
        ks = np.arange(lo, hi + 1)
        return np.append(ks, hi + 1) * self.width, np.array([self.counts.get(int(k), 0) for k in ks])

    def to_dict(self) -> dict:
        return {"width": self.width, "counts": {str(k): v for k, v in sorted(self.counts.items())}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "StreamingHistogram":
        return cls(width=float(d["width"]), counts={int(k): int(v) for k, v in d["counts"].items()})


def outside_gap(levels, vbm: float, cbm: float) -> np.ndarray:
    """Which levels (eV) lie outside the gap [VBM, CBM]: the resonant flags of records without them
    (as ``find_defect_levels`` flags them)."""
    levels = np.atleast_1d(np.asarray(levels, float))
    return (levels <= vbm) | (levels >= cbm)


def electronic_record(electronic: Mapping) -> dict:
    """Per-snapshot record (JSON-friendly, eV) from ``MLHCalculator.electronic`` or its ``extras()``.

    Also accepts the i-PI client's JSON extras, which carry the same keys.
    Levels are sorted by energy; ``defect_levels_resonant`` (when given) is
    reordered with them, and otherwise derived from the edges.
    """
    rec = {k: float(electronic[k]) for k in ("band_gap", "vbm", "cbm")}
    levels = np.atleast_1d(np.asarray(electronic.get("defect_levels", []), float))
    order = np.argsort(levels, kind="stable")
    if electronic.get("defect_levels_resonant") is not None:
        flags = np.atleast_1d(np.asarray(electronic["defect_levels_resonant"], bool))
        if flags.shape != levels.shape:
            raise ValueError(f"defect_levels_resonant has {flags.size} flags for {levels.size} levels")
    else:
        flags = outside_gap(levels, rec["vbm"], rec["cbm"])
    rec["defect_levels"] = levels[order].tolist()
    rec["defect_levels_resonant"] = [bool(f) for f in flags[order]]
    for src, dst in (("band_gap_std", "band_gap_committee_std"), ("h_max_std", "h_max_committee_std")):
        if src in electronic:
            rec[dst] = float(electronic[src])
    return rec


class GroupStatistics:
    """Statistics of the snapshots of one (temperature, defect kind)."""

    def __init__(self, bin_width: float = DEFAULT_BIN_WIDTH_EV):
        self.moments: dict[str, RunningMoments] = {}
        self.hist_below_cbm = StreamingHistogram(bin_width)
        self.hist_above_vbm = StreamingHistogram(bin_width)

    @property
    def n_snapshots(self) -> int:
        m = self.moments.get("band_gap")
        return m.n if m else 0

    def _add(self, name: str, x: float) -> None:
        self.moments.setdefault(name, RunningMoments()).add(x)

    def add(self, record: Mapping) -> None:
        """Add one :func:`electronic_record`."""
        vbm, cbm = record["vbm"], record["cbm"]
        self._add("band_gap", record["band_gap"])
        self._add("vbm", vbm)
        self._add("cbm", cbm)
        levels = record.get("defect_levels", [])
        resonant = record.get("defect_levels_resonant")
        if resonant is None:  # records written before the flags existed
            resonant = outside_gap(levels, vbm, cbm).tolist()
        self._add("n_levels", len(levels))
        self._add("n_in_gap", len(levels) - int(sum(bool(r) for r in resonant)))
        in_gap = [e for e, r in zip(levels, resonant) if not r]
        below = [e for e, r in zip(levels, resonant) if r and e <= vbm]
        above = [e for e, r in zip(levels, resonant) if r and e >= cbm]
        if in_gap:
            self._add("gap_level_above_vbm", min(in_gap) - vbm)
        if below:
            self._add("vb_level_below_vbm", vbm - max(below))
        if above:
            self._add("cb_level_above_cbm", min(above) - cbm)
        for k, (e, r) in enumerate(zip(levels, resonant)):
            self._add(f"level{k}", e)
            self._add(f"level{k}_resonant", float(bool(r)))
            self._add(f"level{k}_above_vbm", e - vbm)
            self._add(f"level{k}_below_cbm", cbm - e)
            self.hist_below_cbm.add(cbm - e)
            self.hist_above_vbm.add(e - vbm)
        for name in ("band_gap_committee_std", "h_max_committee_std"):
            if name in record:
                self._add(name, record[name])

    def merge(self, other: "GroupStatistics") -> "GroupStatistics":
        for name, m in other.moments.items():
            self.moments.setdefault(name, RunningMoments()).merge(m)
        self.hist_below_cbm.merge(other.hist_below_cbm)
        self.hist_above_vbm.merge(other.hist_above_vbm)
        return self

    def to_dict(self) -> dict:
        return {"moments": {k: m.to_dict() for k, m in sorted(self.moments.items())},
                "hist_below_cbm": self.hist_below_cbm.to_dict(),
                "hist_above_vbm": self.hist_above_vbm.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping) -> "GroupStatistics":
        g = cls()
        g.moments = {k: RunningMoments.from_dict(v) for k, v in d["moments"].items()}
        g.hist_below_cbm = StreamingHistogram.from_dict(d["hist_below_cbm"])
        g.hist_above_vbm = StreamingHistogram.from_dict(d["hist_above_vbm"])
        return g


def group_key(temperature_k: float, defect: str) -> str:
    """``"<defect>@<T>K"``, the JSON key of one group."""
    return f"{defect}@{float(temperature_k):g}K"


class ElectronicStatistics:
    """:class:`GroupStatistics` keyed by (temperature in K, defect kind); mergeable, JSON round trip."""

    def __init__(self, bin_width: float = DEFAULT_BIN_WIDTH_EV):
        self.bin_width = float(bin_width)
        self.groups: dict[tuple[float, str], GroupStatistics] = {}

    def group(self, temperature_k: float, defect: str) -> GroupStatistics:
        key = (float(temperature_k), str(defect))
        if key not in self.groups:
            self.groups[key] = GroupStatistics(self.bin_width)
        return self.groups[key]

    def add(self, record: Mapping, temperature_k: float, defect: str) -> None:
        self.group(temperature_k, defect).add(record)

    def merge(self, other: "ElectronicStatistics") -> "ElectronicStatistics":
        for (t, d), g in other.groups.items():
            self.group(t, d).merge(g)
        return self

    @property
    def n_snapshots(self) -> int:
        return sum(g.n_snapshots for g in self.groups.values())

    def sorted_groups(self) -> list[tuple[float, str, GroupStatistics]]:
        """Groups ordered by defect kind, then temperature."""
        return [(t, d, self.groups[(t, d)]) for t, d in sorted(self.groups, key=lambda k: (k[1], k[0]))]

    def to_dict(self) -> dict:
        return {"bin_width_ev": self.bin_width,
                "groups": [{"temperature_k": t, "defect": d, **g.to_dict()}
                           for t, d, g in self.sorted_groups()]}

    @classmethod
    def from_dict(cls, d: Mapping) -> "ElectronicStatistics":
        out = cls(d["bin_width_ev"])
        for g in d["groups"]:
            out.groups[(float(g["temperature_k"]), str(g["defect"]))] = GroupStatistics.from_dict(g)
        return out
