"""Check stream results against DFT: per-snapshot MLH gap/edges/levels vs DFT labels of the same frames.

Workflow (offline mode is how MD results get checked)::

    mlh-ipi stream offline md.extxyz --model mlh.pt --temperature 300 --out st
    mlh-ipi label md.extxyz --out labels/            # or a subset of the frames
    mlh-ipi stream check-dft st labels/*.label.npz

A label is matched to the stream's per-snapshot record (``snapshots.jsonl``) by
its frame's ``step`` (``info["step"]``, written by
:func:`~mlh_ipi.stream.sources.write_snapshots_extxyz` and kept in the label's
info) and, when the label carries ``info["stream_source"]`` or ``source`` is
given, by source. The DFT side goes through the same
:func:`~mlh_ipi.electronic.defect_levels.find_defect_levels` as the MLH side,
with the level picking (defect atoms, band edges by count, resonance window)
given by the caller or else recorded in the label's info. When the stream's
snapshot's record (or, for older records, the checkpoint) says how the stream
picked, the DFT side must pick the same way (a ``ValueError`` otherwise): both
sides are then the same quantity. All energies in eV; errors are MLH − DFT.

Each side classifies its own states there, as the stream must without DFT: a
state that crosses the localisation threshold on one side only shows up as an
error of a level spacing. With the stream's ``model`` given, each row also gets
the errors read off the model's eigenvalues of the states DFT classifies (paired
by index, :mod:`mlh_ipi.electronic.compare`): ``*_matched`` quantities.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from mlh_ipi.atomic_io import atomic_path, save_figure, write_json
from mlh_ipi.data.labelfile import read_label
from mlh_ipi.electronic.compare import errors_at_dft_states
from mlh_ipi.electronic.defect_levels import edge_rule, find_defect_levels, level_picking_from_info
from mlh_ipi.electronic.eigen import solve
from mlh_ipi.stream.workers import read_snapshot_log

QUANTITIES = ("band_gap", "vbm", "cbm", "level0_above_vbm", "level0_below_cbm")
MATCHED = ("band_gap_matched", "level0_above_vbm_matched", "level0_below_cbm_matched")


def _picking(lab, level_picking: dict | None) -> dict:
    """``find_defect_levels`` options for a label: the caller's, else the label's info."""
    return dict(level_picking) if level_picking is not None else level_picking_from_info(lab.info)


def _check_stream_picking(meta: dict, record: dict, picking: dict, path) -> None:
    """The DFT side must pick edges as the stream did, where the stream recorded how: per snapshot
    (records since 2026-12-06 carry ``valence_states`` and ``level_resonance_ev``), else the
    run's settings in its checkpoint."""
    if "valence_states" in record:
        want = edge_rule(record["valence_states"], record.get("level_resonance_ev"))
        check = tuple(want)
    else:
        want = edge_rule(meta.get("valence_states"), meta.get("resonance_ev"))
        check = tuple(k for k in want if want[k] is not None)
    got = edge_rule(picking.get("valence_states"), picking.get("resonance_ev"))
    bad = [f"{k} {got[k]!r} (stream: {want[k]!r})" for k in check if got[k] != want[k]]
    if bad:
        raise ValueError(f"{path}: DFT level picking differs from the stream's: {', '.join(bad)}; "
                         "give the stream's picking (level_picking=) or label frames that record it")


def matched_errors(model, lab, level_picking: dict | None = None) -> dict:
    """MLH − DFT (eV) of the gap and of the lowest in-gap level (relative to each edge), read off
    the eigenvalues of ``model``'s H (checkpoint predictor or committee mean) at the states the
    label's own H classifies as VBM, CBM and levels (:func:`errors_at_dft_states`)."""
    graph = model.graph(lab.symbols, lab.positions_a, lab.cell_a)
    h = model.predict_gamma(graph)
    if hasattr(model, "members"):  # a committee's prediction carries the mean and the spread
        h = h.mean
    e_d, c_d = solve(lab.hamiltonian_ha, lab.overlap)
    e_p = solve(h, lab.overlap)[0]
    lv = find_defect_levels(e_d, c_d, lab.overlap, lab.layout.atom_offsets(lab.symbols), lab.nelectron,
                            **_picking(lab, level_picking))
    gap, levels = errors_at_dft_states(e_p, e_d, lv)
    out = {"band_gap_matched": gap, "level0_above_vbm_matched": None, "level0_below_cbm_matched": None}
    if len(levels):
        out["level0_above_vbm_matched"] = float(levels[0])
        out["level0_below_cbm_matched"] = gap - float(levels[0])
    return out


def label_electronic(label, level_picking: dict | None = None) -> dict:
    """Band gap, VBM, CBM and defect levels (eV) of a DFT label's own H and S; ``level_picking``:
    ``find_defect_levels`` options (None: the label's info)."""
    e, c = solve(label.hamiltonian_ha, label.overlap)
    lv = find_defect_levels(e, c, label.overlap, label.layout.atom_offsets(label.symbols), label.nelectron,
                            **_picking(label, level_picking))
    return {"band_gap": lv.gap_ev, "vbm": lv.vbm_ev, "cbm": lv.cbm_ev,
            "defect_levels": sorted(lv.levels_ev.tolist())}


def _derived(rec: dict) -> dict:
    out = {k: rec[k] for k in ("band_gap", "vbm", "cbm")}
    levels = rec.get("defect_levels") or []
    if levels:
        out["level0_above_vbm"] = levels[0] - rec["vbm"]
        out["level0_below_cbm"] = rec["cbm"] - levels[0]
    return out


def compare_with_labels(stream_dir: str | os.PathLike, labels: Sequence[str | os.PathLike],
                        source: str | None = None, model=None,
                        level_picking: dict | None = None) -> tuple[list[dict], dict]:
    """``(rows, summary)``: one row per label (MLH, DFT, error per quantity) and MAE / max |error|;
    with ``model`` (the stream's: checkpoint path, committee folder or loaded) also the
    ``*_matched`` errors. ``level_picking``: ``find_defect_levels`` options for the DFT side
    (None: each label's info)."""
    from mlh_ipi.stream.state import StreamState

    if model is not None:
        from mlh_ipi.calculator import load_hamiltonian_model

        model = load_hamiltonian_model(model)
    records = read_snapshot_log(stream_dir)
    if not records:
        raise FileNotFoundError(f"{stream_dir}: no per-snapshot records (snapshots.jsonl)")
    meta = StreamState.load(stream_dir).meta if (Path(stream_dir) / "checkpoint.json").exists() else {}
    rows = []
    for path in labels:
        lab = read_label(path)
        if "step" not in lab.info:
            raise ValueError(f"{path}: the label's frame has no info['step'] to match a snapshot")
        step = int(lab.info["step"])
        src = lab.info.get("stream_source", source)
        match = [r for r in records if r["step"] == step and (src is None or r["source"] == src)]
        if len(match) != 1:
            what = "no" if not match else f"{len(match)} (give --source)"
            raise ValueError(f"{path}: {what} stream snapshots with step {step}"
                             + (f" in source {src!r}" if src else ""))
        picking = _picking(lab, level_picking)
        _check_stream_picking(meta, match[0], picking, path)
        mlh, dft = _derived(match[0]), _derived(label_electronic(lab, picking))
        row = {"label": str(path), "source": match[0]["source"], "step": step,
               "temperature_k": match[0]["temperature_k"]}
        for q in QUANTITIES:
            a, b = mlh.get(q), dft.get(q)
            row[f"{q}_mlh"], row[f"{q}_dft"] = a, b
            row[f"{q}_error"] = None if a is None or b is None else a - b
        if model is not None:
            row.update({f"{q}_error": v for q, v in matched_errors(model, lab, picking).items()})
        rows.append(row)
    summary = {"n_labels": len(rows), "units": "eV", "errors": "MLH - DFT"}
    for q in QUANTITIES + (MATCHED if model is not None else ()):
        err = np.array([r[f"{q}_error"] for r in rows if r[f"{q}_error"] is not None], float)
        summary[q] = {"n": int(err.size),
                      "mae": float(np.abs(err).mean()) if err.size else None,
                      "mean_error": float(err.mean()) if err.size else None,
                      "max_abs_error": float(np.abs(err).max()) if err.size else None}
    return rows, summary


def write_dft_check(stream_dir: str | os.PathLike, labels: Sequence[str | os.PathLike],
                    out_dir: str | os.PathLike | None = None, source: str | None = None,
                    model=None, level_picking: dict | None = None) -> dict:
    """``dft_check.csv``, ``dft_check.json`` and ``dft_check_gap.png`` (parity) in ``out_dir``;
    ``model`` and ``level_picking``: see :func:`compare_with_labels`."""
    import csv

    out = Path(out_dir or stream_dir)
    rows, summary = compare_with_labels(stream_dir, labels, source, model=model, level_picking=level_picking)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "dft_check.csv", suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    write_json(out / "dft_check.json", {"summary": summary, "rows": rows})
    _parity_plot(rows, summary, out / "dft_check_gap.png")
    return summary


def _parity_plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    for q, marker in (("band_gap", "o"), ("level0_below_cbm", "s")):
        pts = [(r[f"{q}_dft"], r[f"{q}_mlh"]) for r in rows if r[f"{q}_error"] is not None]
        if pts:
            x, y = np.array(pts).T
            mae = summary[q]["mae"]
            ax.plot(x, y, marker, ls="none", label=f"{q} (MAE {1e3 * mae:.0f} meV)")
    lo, hi = ax.get_xlim()
    lo, hi = min(lo, ax.get_ylim()[0]), max(hi, ax.get_ylim()[1])
    if math.isfinite(lo) and math.isfinite(hi):
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set_xlabel("DFT (eV)")
    ax.set_ylabel("MLH (eV)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
