"""``mlh-ipi al-mlh CONFIG.toml``: committee active learning of the Hamiltonian model (resumable).

A fixed pool of candidate structures; the initial training set is chosen by
k-means on structure descriptors; each round trains a committee, scores it on a
fixed test set (H and band-gap MAE), and DFT-labels the pool structures with the
largest committee spread of H^Gamma, balanced over (defect, temperature) groups.
Rerun the same command to resume; raise ``max_rounds`` (``--max-rounds``) to
extend a finished run. See ``mlh_ipi.workflows.al_mlh`` and ``examples/gaas_defects/``.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("al-mlh", help="active learning of the Hamiltonian model with a committee",
                       description=__doc__)
    p.add_argument("config", type=Path, help="TOML config (see examples/gaas_defects/)")
    p.add_argument("--max-rounds", type=int, default=None, help="override max_rounds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.workflows.al_mlh import CURVE, load_config, run_active_learning

    cfg = load_config(args.config)
    if args.max_rounds is not None:
        cfg = dataclasses.replace(cfg, max_rounds=args.max_rounds)
    state = run_active_learning(cfg, progress=not args.no_progress)
    print(f"{state['reason']}; learning curve: {cfg.work / (CURVE + '.csv')}")
    for row in state["history"]:
        print(f"  round {row['round']}: {row['n_train']} training structures, "
              f"test H MAE {row['test_h_mae_mev']:.1f} meV, gap MAE {row['test_gap_mae_mev']:.0f} meV, "
              f"committee std {row['test_mean_max_std_mev']:.1f} meV")
    return 0
