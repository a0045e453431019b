"""``mlh-ipi eval-h MODEL DATA...``: Hamiltonian, eigenvalue, gap and defect-level errors vs DFT labels.

MODEL is a checkpoint or a committee folder; DATA are label folders or files.
Writes ``OUT/errors.csv`` (one row per structure), ``OUT/summary.json`` and the
plots ``OUT/parity_h.png`` (predicted vs DFT H elements) and
``OUT/eigenvalues.png`` (Gamma eigenvalues near the gap, MLH vs DFT).
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-h", help="evaluate a Hamiltonian model against DFT labels", description=__doc__)
    p.add_argument("model", type=Path, help="checkpoint (.pt) or committee folder")
    p.add_argument("data", type=Path, nargs="+", help="label folders or .label.npz files")
    p.add_argument("--out", type=Path, default=Path("eval_h"), help="output folder")
    p.set_defaults(func=run)


def _label_paths(items):
    from mlh_ipi.data.labelfile import label_files

    out = []
    for item in items:
        if item.is_dir():
            out += label_files(item)
        elif item.exists():
            out.append(item)
        else:
            raise FileNotFoundError(f"no such label file or folder: {item}")
    if not out:
        raise FileNotFoundError(f"no .label.npz files in {[str(i) for i in items]}")
    return out


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.atomic_io import write_json
    from mlh_ipi.calculator import load_hamiltonian_model
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.electronic.compare import MEV, compare_hamiltonians
    from mlh_ipi.electronic.eigen import solve

    model = load_hamiltonian_model(args.model)
    committee = hasattr(model, "members")
    rows, parity, eig_pairs = [], [], []
    for path in _label_paths(args.data):
        lab = read_label(path)
        (model.members[0] if committee else model).check(lab.layout.restricted_to(set(lab.symbols)),
                                                          lab.settings)
        graph = model.graph(lab.symbols, lab.positions_a, lab.cell_a)
        t0 = time.perf_counter()
        if committee:
            pred = model.predict_gamma(graph)
            h, spread = pred.mean, pred.max_std * MEV
        else:
            h, spread = model.predict_gamma(graph), None
        t_pred = time.perf_counter() - t0
        err = compare_hamiltonians(h, lab.hamiltonian_ha, lab.overlap, lab.atom_offsets, lab.nelectron,
                                   defect_atoms=lab.info.get("defect_si"))
        rows.append({"label": path.name, "atoms": lab.natoms, "kind": lab.info.get("kind", ""),
                     **err.as_dict(), "committee_max_std_mev": spread, "predict_s": t_pred})
        sel = np.triu_indices_from(h)
        parity.append((lab.hamiltonian_ha[sel] * MEV / 1000, h[sel] * MEV / 1000))
        if not eig_pairs:  # eigenvalue plot for the first structure
            e_d, e_p = solve(lab.hamiltonian_ha, lab.overlap)[0], solve(h, lab.overlap)[0]
            eig_pairs.append((e_d * MEV / 1000, e_p * MEV / 1000, lab.nelectron // 2))
        print(f"{path.name}: H MAE {err.h_mae_mev:.2f} meV, eig MAE {err.eigenvalue_mae_mev:.1f} meV, "
              f"gap {err.gap_dft_ev:.3f} -> {err.gap_pred_ev:.3f} eV", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "errors.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    levels = [r["defect_level_error_mev"] for r in rows if r["defect_level_error_mev"] is not None]
    summary = {
        "structures": len(rows),
        "h_mae_mev": float(np.mean([r["h_mae_mev"] for r in rows])),
        "eigenvalue_mae_mev": float(np.mean([r["eigenvalue_mae_mev"] for r in rows])),
        "gap_mae_mev": float(np.mean([abs(r["gap_error_mev"]) for r in rows])),
        "defect_level_mae_mev": float(np.mean(np.abs(levels))) if levels else None,
    }
    write_json(args.out / "summary.json", summary)
    _plots(parity, eig_pairs, args.out)
    print(json.dumps(summary, indent=1))
    return 0


def _plots(parity, eig_pairs, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref = np.concatenate([p[0] for p in parity])
    pred = np.concatenate([p[1] for p in parity])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(ref, pred, ".", ms=2, alpha=0.5)
    lim = [min(ref.min(), pred.min()), max(ref.max(), pred.max())]
    ax.plot(lim, lim, "k-", lw=0.8)
    ax.set_xlabel("DFT H element (eV)")
    ax.set_ylabel("MLH H element (eV)")
    ax.set_title(f"H parity, MAE {np.abs(pred - ref).mean() * 1000:.2f} meV")
    fig.tight_layout()
    fig.savefig(out / "parity_h.png", dpi=150)
    plt.close(fig)

    e_d, e_p, nocc = eig_pairs[0]
    vbm = e_d[nocc - 1]
    k = slice(max(0, nocc - 20), min(len(e_d), nocc + 20))
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for x, e, label in ((0, e_d[k] - vbm, "DFT"), (1, e_p[k] - vbm, "MLH")):
        ax.hlines(e, x - 0.35, x + 0.35, colors="C0" if x == 0 else "C1", label=label)
    ax.set_xticks([0, 1], ["DFT", "MLH"])
    ax.set_ylabel("Gamma eigenvalue - DFT VBM (eV)")
    ax.set_title("levels near the gap (first structure)")
    fig.tight_layout()
    fig.savefig(out / "eigenvalues.png", dpi=150)
    plt.close(fig)
