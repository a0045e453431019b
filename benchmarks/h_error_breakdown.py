"""Where the Hamiltonian error sits: |H_MLH - H_DFT| at Gamma split by pair distance, element pair and l pair.

The issue-3 metric is the MAE over every element of H^Gamma (nao x nao, Hartree
matrices, reported in meV). This script splits that same sum of absolute errors
into parts, per label set:

* on-site blocks (i = j) and off-site blocks binned by the minimum-image distance
  of the two atoms (Angstrom): which neighbour shells carry the error;
* element pair (Si-Si, Si-O, O-O, ...) and orbital l pair (s-s, s-p, p-p, ...);

For each part: the number of matrix elements, their MAE (meV), the mean |H_DFT|
there (meV, the scale of what is predicted), and the part's share of the total
absolute error (%), so the shares add to 100 % and the overall MAE is the
element-weighted mean of the parts. ``--aligned`` first removes from ΔH the best
uniform shift c S (a constant potential offset: it changes no eigenvector,
density, energy or gap; ``mlh_ipi.evaluation``), which shows how much of the
error near the diagonal is only that offset.

For a Harris-baseline model (``baseline = "harris"``) the network learns only the
correction H_DFT - H_0. Each part then also shows the MAE of that correction (what a
model that predicts ΔH = 0 would miss there) and the share of it the model captures,
``1 - MAE(error) / MAE(H_DFT - H_0)``; a negative share means the network adds more
error than it removes. ``--baseline-cache DIR`` reads (and keeps) H_0 there, one
potential build per label otherwise.

Usage::

    python benchmarks/h_error_breakdown.py MODEL --sets test48=examples/sio2_vo/data/labels/test48 \
        [--baseline-cache examples/sio2_vo/data/harris_h0] [--out benchmarks/results/h_error_breakdown/NAME]

Writes ``breakdown.json``, ``breakdown.md`` (also printed) and ``breakdown.png``
(share of the absolute error and MAE per distance bin) in ``--out``.
"""
from __future__ import annotations

import argparse
import logging
import platform
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

log = logging.getLogger("h_error_breakdown")
DISTANCE_EDGES_A = (0.0, 2.0, 2.7, 3.5, 4.5, 5.5, 6.5, 8.0, np.inf)
L_NAMES = "spdfg"


def _bin_name(lo: float, hi: float) -> str:
    return f"{lo:g}-{hi:g} Å" if np.isfinite(hi) else f"≥ {lo:g} Å"


class Tally:
    """Sums of |error|, |H_DFT| and element counts per part name (meV)."""

    def __init__(self):
        self.abs_err = defaultdict(float)
        self.abs_ref = defaultdict(float)
        self.abs_delta = defaultdict(float)
        self.count = defaultdict(int)
        self.has_delta = False

    def add(self, name: str, err: np.ndarray, ref: np.ndarray, delta: np.ndarray | None = None) -> None:
        """``delta``: H_DFT - H_0 of the same elements (meV), for a baseline model."""
        self.abs_err[name] += float(np.abs(err).sum())
        self.abs_ref[name] += float(np.abs(ref).sum())
        self.count[name] += int(err.size)
        if delta is not None:
            self.abs_delta[name] += float(np.abs(delta).sum())
            self.has_delta = True

    def rows(self, order: list[str] | None = None) -> list[dict]:
        total = sum(self.abs_err.values())
        names = order if order is not None else sorted(self.count)
        rows = []
        for n in names:
            if not self.count[n]:
                continue
            row = {"part": n, "elements": self.count[n], "mae_mev": self.abs_err[n] / self.count[n],
                   "mean_abs_h_mev": self.abs_ref[n] / self.count[n], "share_pct": 100 * self.abs_err[n] / total}
            if self.has_delta:
                row["mae_correction_mev"] = self.abs_delta[n] / self.count[n]
                row["captured_pct"] = (100 * (1 - self.abs_err[n] / self.abs_delta[n])
                                       if self.abs_delta[n] > 0 else float("nan"))
            rows.append(row)
        return rows


def breakdown(model, label_paths: list[Path], aligned: bool = False,
              baseline_cache: Path | None = None) -> dict[str, list[dict]]:
    """Per-part tables (distance, element pair, l pair) over the labels; errors in meV.

    For a baseline model each row also carries ``mae_correction_mev`` (MAE of
    H_DFT - H_0) and ``captured_pct``; H_0 comes from ``baseline_cache`` when given.
    """
    from ase.geometry import get_distances

    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.dft.harris import StoredBaseline, cached_h0
    from mlh_ipi.electronic.compare import MEV, uniform_shift

    by_dist, by_elem, by_l = Tally(), Tally(), Tally()
    for path in label_paths:
        lab = read_label(path)
        model.check(lab.layout.restricted_to(set(lab.symbols)), lab.settings)
        base = None
        if model.baseline:
            base = StoredBaseline(cached_h0(lab.symbols, lab.positions_a, lab.cell_a, lab.settings,
                                            baseline_cache))
        h = model.predict_gamma(model.graph(lab.symbols, lab.positions_a, lab.cell_a), baseline=base)
        err = h - lab.hamiltonian_ha
        if aligned:
            err = err - uniform_shift(err, lab.overlap) * lab.overlap
        err, ref = err * MEV, lab.hamiltonian_ha * MEV
        delta = None if base is None else (lab.hamiltonian_ha - base.hamiltonian_ha()) * MEV
        off = lab.atom_offsets
        _, dist = get_distances(lab.positions_a, cell=lab.cell_a, pbc=True)
        ls = [lab.layout.orbital_l(s) for s in lab.symbols]
        n = lab.natoms
        for i in range(n):
            for j in range(n):
                bi, bj = slice(off[i], off[i + 1]), slice(off[j], off[j + 1])
                e_blk, r_blk = err[bi, bj], ref[bi, bj]
                d_blk = None if delta is None else delta[bi, bj]
                if i == j:
                    dname = "on-site"
                else:
                    k = int(np.searchsorted(DISTANCE_EDGES_A, dist[i, j], side="right")) - 1
                    dname = _bin_name(DISTANCE_EDGES_A[k], DISTANCE_EDGES_A[k + 1])
                by_dist.add(dname, e_blk, r_blk, d_blk)
                pair = "-".join(sorted((lab.symbols[i], lab.symbols[j])))
                by_elem.add(pair + (" on-site" if i == j else ""), e_blk, r_blk, d_blk)
                li, lj = ls[i][:, None], ls[j][None, :]
                for a in np.unique(ls[i]):
                    for b in np.unique(ls[j]):
                        if a > b:
                            continue
                        mask = ((li == a) & (lj == b)) | ((li == b) & (lj == a)) if a != b else (li == a) & (lj == b)
                        by_l.add(f"{L_NAMES[a]}-{L_NAMES[b]}", e_blk[mask], r_blk[mask],
                                 None if d_blk is None else d_blk[mask])
        log.info("%s: %d atoms done", Path(path).name, n)
    order = ["on-site"] + [_bin_name(lo, hi) for lo, hi in zip(DISTANCE_EDGES_A[:-1], DISTANCE_EDGES_A[1:])]
    return {"distance": by_dist.rows(order), "element pair": by_elem.rows(), "l pair": by_l.rows()}


def markdown(tables: dict[str, list[dict]]) -> str:
    lines = []
    for kind, rows in tables.items():
        overall = sum(r["mae_mev"] * r["elements"] for r in rows) / sum(r["elements"] for r in rows)
        corr = bool(rows) and "mae_correction_mev" in rows[0]
        lines += [f"by {kind} (overall MAE {overall:.2f} meV):", "",
                  "| part | elements | MAE (meV) | mean abs H_DFT (meV) | share of abs error (%) |"
                  + (" MAE of H_DFT − H_0 (meV) | captured (%) |" if corr else ""),
                  "|---|---|---|---|---|" + ("---|---|" if corr else "")]
        lines += [f"| {r['part']} | {r['elements']} | {r['mae_mev']:.2f} | {r['mean_abs_h_mev']:.1f} | "
                  f"{r['share_pct']:.1f} |"
                  + (f" {r['mae_correction_mev']:.2f} | {r['captured_pct']:.0f} |" if corr else "") for r in rows]
        lines.append("")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlh_ipi.atomic_io import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(results))
    for k, (name, res) in enumerate(results.items()):
        rows = res["raw"]["distance"]
        x = np.arange(len(rows)) + k * width
        axes[0].bar(x, [r["share_pct"] for r in rows], width, label=name)
        axes[1].bar(x, [r["mae_mev"] for r in rows], width, label=name)
    labels = [r["part"] for r in next(iter(results.values()))["raw"]["distance"]]
    for ax, title in zip(axes, ("share of the total |ΔH| (%)", "MAE of the elements there (meV)")):
        ax.set_xticks(np.arange(len(labels)) + width * (len(results) - 1) / 2)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("%")
    axes[1].set_ylabel("meV")
    fig.suptitle("error of H at Γ by pair distance (minimum image)")
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="checkpoint (.pt)")
    p.add_argument("--sets", nargs="+", required=True, help="NAME=label-folder")
    p.add_argument("--aligned", action="store_true", help="remove the best uniform shift c S first")
    p.add_argument("--baseline-cache", type=Path, default=None,
                   help="H_0 cache folder of a Harris-baseline model's labels (read and filled)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/h_error_breakdown"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    threads = configure_threads(args.threads)
    from mlh_ipi.atomic_io import write_json, write_text
    from mlh_ipi.data.labelfile import collect_label_files
    from mlh_ipi.model.predictor import HamiltonianPredictor

    model = HamiltonianPredictor.load(args.model)
    what = "shift-aligned " if args.aligned else ""
    results, text = {}, [f"# {what}H^Γ error breakdown: `{args.model}` ({platform.node()}, "
                         f"{time.strftime('%Y-%m-%d %H:%M')}, {threads} thread(s))", ""]
    for spec in args.sets:
        name, _, folder = spec.partition("=")
        files = collect_label_files([folder])
        raw = breakdown(model, files, aligned=args.aligned, baseline_cache=args.baseline_cache)
        results[name] = {"labels": len(files), "aligned": args.aligned, "raw": raw}
        text += [f"## {name} ({len(files)} labels)", "", markdown(raw)]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "breakdown.json", {"model": str(args.model), "results": results})
    write_text(args.out / "breakdown.md", "\n".join(text) + "\n")
    plot(results, args.out / "breakdown.png")
    print("\n".join(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
