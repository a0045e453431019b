"""Tables and plots of stream statistics (eV, K).

:func:`write_report` writes into a folder:

* ``summary.csv`` / ``summary.json``: one row per (defect, temperature): number
  of snapshots; mean and thermal broadening (population std over snapshots) of
  the band gap, VBM, CBM; mean committee gap spread (model uncertainty, when
  the model is a committee); number of levels and of in-gap levels; for each
  level k its snapshot count, mean/std above the VBM and below the CBM, and
  the fraction of those snapshots in which it is resonant (outside the gap);
  the levels by character (lowest in-gap level above the VBM, highest
  valence-resonant level below the VBM, lowest conduction-resonant level above
  the CBM: count, mean, std). The JSON also has the counters.
* ``level_histograms.csv``: counts of levels per bin of E_CBM - E (eV).
* ``gap_vs_temperature.png``: gap vs T, thermal broadening as error bars, mean
  committee spread as a second, thinner bar;
* ``defect_levels_vs_temperature.png``: level k relative to the CBM (E - E_CBM,
  so deeper levels are lower) vs T with thermal-broadening bars; levels that
  are resonant in most snapshots are drawn dashed with open markers;
* ``level_histograms.png``: distribution of E - E_CBM per temperature.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from mlh_ipi.atomic_io import atomic_path, save_figure, write_json
from mlh_ipi.stream.state import StreamState
from mlh_ipi.stream.statistics import ElectronicStatistics, GroupStatistics


# defect levels by character (stream.statistics): lowest in-gap, highest valence-resonant, lowest
# conduction-resonant, each relative to its band edge (eV)
CHARACTER_LEVELS = ("gap_level_above_vbm", "vb_level_below_vbm", "cb_level_above_cbm")


def _level_indices(g: GroupStatistics) -> list[int]:
    return sorted(int(m.group(1)) for k in g.moments if (m := re.fullmatch(r"level(\d+)", k)))


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def summary_rows(stats: ElectronicStatistics) -> list[dict]:
    """One dict per (defect, temperature); keys documented in the module docstring."""
    rows = []
    for t, d, g in stats.sorted_groups():
        m = g.moments
        row = {"defect": d, "temperature_k": t, "n_snapshots": g.n_snapshots}
        for q in ("band_gap", "vbm", "cbm", "n_levels"):
            row[f"{q}_mean"] = _num(m[q].mean)
            row[f"{q}_std"] = _num(m[q].std())
        # n_in_gap is absent from checkpoints written before it existed
        row["n_in_gap_mean"] = _num(m["n_in_gap"].mean) if "n_in_gap" in m else None
        row["n_in_gap_std"] = _num(m["n_in_gap"].std()) if "n_in_gap" in m else None
        for q in ("band_gap_committee_std", "h_max_committee_std"):
            row[f"{q}_mean"] = _num(m[q].mean) if q in m else None
        for q in CHARACTER_LEVELS:
            row[f"{q}_n"] = m[q].n if q in m else 0
            row[f"{q}_mean"] = _num(m[q].mean) if q in m else None
            row[f"{q}_std"] = _num(m[q].std()) if q in m else None
        for k in _level_indices(g):
            row[f"level{k}_n"] = m[f"level{k}"].n
            for rel in ("above_vbm", "below_cbm"):
                row[f"level{k}_{rel}_mean"] = _num(m[f"level{k}_{rel}"].mean)
                row[f"level{k}_{rel}_std"] = _num(m[f"level{k}_{rel}"].std())
            res = m.get(f"level{k}_resonant")
            row[f"level{k}_resonant_fraction"] = _num(res.mean) if res is not None and res.n else None
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    columns: list[str] = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({c: ("" if r.get(c) is None else r.get(c)) for c in columns})


def histogram_rows(stats: ElectronicStatistics) -> list[dict]:
    rows = []
    for t, d, g in stats.sorted_groups():
        edges, counts = g.hist_below_cbm.edges_and_counts()
        for lo, hi, c in zip(edges[:-1], edges[1:], counts):
            rows.append({"defect": d, "temperature_k": t, "below_cbm_lo_ev": float(lo),
                         "below_cbm_hi_ev": float(hi), "count": int(c)})
    return rows


def write_report(state: StreamState, out_dir: str | Path, plots: bool = True) -> list[Path]:
    """Tables (and PNG plots) of ``state`` into ``out_dir``; the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(state.stats)
    paths = [out / "summary.csv", out / "summary.json", out / "level_histograms.csv"]
    _write_csv(paths[0], rows)
    write_json(paths[1], {"groups": rows, "counters": vars(state.counters), "meta": state.meta,
                          "units": {"energies": "eV", "temperature": "K"}})
    _write_csv(paths[2], histogram_rows(state.stats))
    if plots and rows:
        paths += plot_report(state.stats, out)
    return paths


def plot_report(stats: ElectronicStatistics, out_dir: str | Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    rows = summary_rows(stats)
    defects = sorted({r["defect"] for r in rows})
    paths = []

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for d in defects:
        rs = [r for r in rows if r["defect"] == d]
        t = np.array([r["temperature_k"] for r in rs])
        y = np.array([r["band_gap_mean"] for r in rs])
        eb = ax.errorbar(t, y, yerr=[r["band_gap_std"] or 0 for r in rs], fmt="o-", capsize=4,
                         label=f"{d}: thermal broadening")
        model = [r["band_gap_committee_std_mean"] for r in rs]
        if any(v is not None for v in model):
            ax.errorbar(t + 0.01 * max(np.ptp(t), 1.0), y, yerr=[v or 0 for v in model], fmt="none",
                        ecolor=eb[0].get_color(), elinewidth=3, alpha=0.4, label=f"{d}: committee spread")
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("band gap (eV)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out / "gap_vs_temperature.png"))

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for d in defects:
        rs = [r for r in rows if r["defect"] == d]
        ks = sorted({int(m.group(1)) for r in rs for c in r if (m := re.fullmatch(r"level(\d+)_n", c))})
        for k in ks:
            sel = [r for r in rs if r.get(f"level{k}_n")]
            resonant = np.mean([r.get(f"level{k}_resonant_fraction") or 0.0 for r in sel]) > 0.5
            ax.errorbar([r["temperature_k"] for r in sel], [-r[f"level{k}_below_cbm_mean"] for r in sel],
                        yerr=[r[f"level{k}_below_cbm_std"] or 0 for r in sel], capsize=4,
                        fmt="s--" if resonant else "s-", mfc="none" if resonant else None,
                        label=f"{d} level {k}" + (" (resonant)" if resonant else ""))
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xlabel("temperature (K)")
    ax.set_ylabel("E_level - E_CBM (eV)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out / "defect_levels_vs_temperature.png"))

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for t, d, g in stats.sorted_groups():
        edges, counts = g.hist_below_cbm.edges_and_counts()
        if counts.sum():
            ax.stairs((counts / counts.sum())[::-1], (-edges)[::-1], label=f"{d} {t:g} K")
    ax.set_xlabel("E_level - E_CBM (eV)")
    ax.set_ylabel("fraction of levels")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(_save(fig, out / "level_histograms.png"))
    return paths


def _save(fig, path: Path) -> Path:
    save_figure(fig, path)
    return path
