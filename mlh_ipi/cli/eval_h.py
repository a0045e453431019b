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
from pathlib import Path



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-h", help="evaluate a Hamiltonian model against DFT labels", description=__doc__)
    p.add_argument("model", type=Path, help="checkpoint (.pt) or committee folder")
    p.add_argument("data", type=Path, nargs="+", help="label folders or .label.npz files")
    p.add_argument("--out", type=Path, default=Path("eval_h"), help="output folder")
    p.add_argument("--baseline-cache", type=Path, default=None,
                   help="Harris-baseline models: folder of stored H_0 matrices (a training run's "
                        "baseline_cache); H_0 is read from it when there, stored there when built")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.atomic_io import atomic_path, write_json
    from mlh_ipi.calculator import load_hamiltonian_model
    from mlh_ipi.data.labelfile import collect_label_files
    from mlh_ipi.evaluation import evaluate_labels, plot_evaluation

    model = load_hamiltonian_model(args.model)
    ev = evaluate_labels(model, collect_label_files(args.data), baseline_cache=args.baseline_cache)
    for r in ev.rows:
        print(f"{r['label']}: H MAE {r['h_mae_mev']:.2f} meV ({r['h_mae_aligned_mev']:.2f} shift-aligned), "
              f"eig MAE {r['eigenvalue_mae_mev']:.1f} meV ({r['eigenvalue_mae_shift_aligned_mev']:.1f} shift-aligned), gap {r['gap_dft_ev']:.3f} -> {r['gap_pred_ev']:.3f} eV",
              flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "errors.csv") as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(ev.rows[0]))
        writer.writeheader()
        writer.writerows(ev.rows)
    summary = ev.summary()
    write_json(args.out / "summary.json", summary)
    plot_evaluation(ev, args.out)
    print(json.dumps(summary, indent=1))
    return 0
