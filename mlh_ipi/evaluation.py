"""Evaluate a Hamiltonian model (or committee) against DFT labels: the numbers ``eval-h`` and the benchmarks report.

Per structure (all energies in meV unless named ``_ev``): H^Gamma MAE and max
error, the same MAE after removing the best uniform shift ``c S`` (a constant
potential offset, which changes no eigenvector, density, energy or gap), the
eigenvalue MAE within +-3 eV of the gap, host-like gap error, defect-level error
(relative to the VBM), both also for the states DFT classifies (``_matched``,
``mlh_ipi.electronic.compare``), committee max std of H, and the prediction wall time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from mlh_ipi.atomic_io import save_figure
from mlh_ipi.electronic.compare import MEV, compare_hamiltonians, uniform_shift
from mlh_ipi.electronic.defect_levels import level_picking_from_info
from mlh_ipi.electronic.eigen import solve


@dataclass
class Evaluation:
    rows: list[dict] = field(default_factory=list)
    parity: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (DFT, MLH) H elements, eV
    first_levels: tuple | None = None  # (e_dft_ev, e_mlh_ev, nocc) of the first structure

    def summary(self) -> dict:
        rows = self.rows
        if not rows:
            return {"structures": 0}
        levels = [r["defect_level_error_mev"] for r in rows if r["defect_level_error_mev"] is not None]
        matched = [r["defect_level_error_matched_mev"] for r in rows
                   if r.get("defect_level_error_matched_mev") is not None]
        return {
            "structures": len(rows),
            "atoms": sorted({r["atoms"] for r in rows}),
            "h_mae_mev": float(np.mean([r["h_mae_mev"] for r in rows])),
            "h_mae_shift_aligned_mev": float(np.mean([r["h_mae_aligned_mev"] for r in rows])),
            "eigenvalue_mae_mev": float(np.mean([r["eigenvalue_mae_mev"] for r in rows])),
            # the same after removing the uniform shift c S, which changes no density, energy or gap
            "eigenvalue_mae_shift_aligned_mev": float(np.mean([r["eigenvalue_mae_shift_aligned_mev"]
                                                               for r in rows])),
            "gap_mae_mev": float(np.mean([abs(r["gap_error_mev"]) for r in rows])),
            "defect_level_mae_mev": float(np.mean(np.abs(levels))) if levels else None,
            "defect_levels_compared": len(levels),
            # the same read off the predicted eigenvalues of the states DFT classifies (electronic.compare)
            "gap_mae_matched_mev": float(np.mean([abs(r["gap_error_matched_mev"]) for r in rows])),
            "defect_level_mae_matched_mev": float(np.mean(matched)) if matched else None,
            "defect_levels_compared_matched": len(matched),
            "predict_s_mean": float(np.mean([r["predict_s"] for r in rows])),
        }


def evaluate_labels(model, label_paths: Iterable[Path], baseline_cache=None,
                    level_picking: Callable | None = None) -> Evaluation:
    """Compare ``model`` (``HamiltonianPredictor`` or ``Committee``) with every label file.

    Defect levels are picked (``find_defect_levels``) on the label's ``info["defect_atoms"]``
    (or ``defect_si``), ``info["valence_states"]`` and ``info["level_resonance_ev"]`` when present
    (``level_picking_from_info``); ``level_picking(label)``,
    when given, returns those keyword arguments (``defect_atoms``, ``valence_states``,
    ``resonance_ev``) for each label instead.

    ``baseline_cache``: for a baseline (Harris) model, the folder of stored H_0 matrices
    (``mlh_ipi.dft.harris.cached_h0``; e.g. a training run's ``baseline_cache``): H_0 is read
    from it when there and stored there when built. ``predict_s`` then excludes the build."""
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.dft.harris import StoredBaseline, cached_h0

    committee = hasattr(model, "members")
    ev = Evaluation()
    for path in label_paths:
        lab = read_label(path)
        first = model.members[0] if committee else model
        first.check(lab.layout.restricted_to(set(lab.symbols)), lab.settings)
        graph = model.graph(lab.symbols, lab.positions_a, lab.cell_a)
        base = None
        if model.baseline and baseline_cache is not None:
            base = StoredBaseline(cached_h0(graph.symbols, graph.positions_a, graph.cell_a, first.settings,
                                            baseline_cache))
        t0 = time.perf_counter()
        if committee:
            pred = model.predict_gamma(graph, baseline=base)
            h, spread = pred.mean, pred.max_std * MEV
        else:
            h, spread = model.predict_gamma(graph, baseline=base), None
        t_pred = time.perf_counter() - t0
        picking = level_picking(lab) if level_picking is not None else level_picking_from_info(lab.info)
        err = compare_hamiltonians(h, lab.hamiltonian_ha, lab.overlap, lab.atom_offsets, lab.nelectron,
                                   **picking)
        shift = uniform_shift(h - lab.hamiltonian_ha, lab.overlap)
        aligned = float(np.abs(h - shift * lab.overlap - lab.hamiltonian_ha).mean() * MEV)
        ev.rows.append({"label": f"{Path(path).parent.name}/{Path(path).name}", "atoms": lab.natoms,
                        "kind": lab.info.get("kind", lab.info.get("defect", "")),
                        "temperature_K": lab.info.get("temperature_K", ""),
                        **err.as_dict(), "h_mae_aligned_mev": aligned, "uniform_shift_mev": shift * MEV,
                        "committee_max_std_mev": spread, "predict_s": t_pred})
        sel = np.triu_indices_from(h)
        ev.parity.append((lab.hamiltonian_ha[sel] * MEV / 1000, h[sel] * MEV / 1000))
        if ev.first_levels is None:
            e_d, e_p = solve(lab.hamiltonian_ha, lab.overlap)[0], solve(h, lab.overlap)[0]
            ev.first_levels = (e_d * MEV / 1000, e_p * MEV / 1000, lab.nelectron // 2)
    return ev


def plot_evaluation(ev: Evaluation, out: Path) -> list[Path]:
    """``parity_h.png`` (H elements, MLH vs DFT) and ``eigenvalues.png`` (levels near the gap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ref = np.concatenate([p[0] for p in ev.parity])
    pred = np.concatenate([p[1] for p in ev.parity])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(ref, pred, ".", ms=2, alpha=0.5)
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xlabel("DFT H element (eV)")
    ax.set_ylabel("MLH H element (eV)")
    ax.set_title(f"H parity, MAE {np.abs(pred - ref).mean() * 1000:.2f} meV")
    fig.tight_layout()
    save_figure(fig, out / "parity_h.png", dpi=150)

    e_d, e_p, nocc = ev.first_levels
    vbm = e_d[nocc - 1]
    k = slice(max(0, nocc - 20), min(len(e_d), nocc + 20))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for x, e, label in ((0, e_d[k] - vbm, "DFT"), (1, e_p[k] - vbm, "MLH")):
        ax.hlines(e, x - 0.35, x + 0.35, colors="C0" if x == 0 else "C1", label=label)
    ax.set_xticks([0, 1], ["DFT", "MLH"])
    ax.set_ylabel("Gamma eigenvalue - DFT VBM (eV)")
    ax.set_title("levels near the gap (first structure)")
    fig.tight_layout()
    save_figure(fig, out / "eigenvalues.png", dpi=150)
    return [out / "parity_h.png", out / "eigenvalues.png"]
