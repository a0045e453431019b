"""``mlh-ipi al-mace CONFIG.toml``: committee active learning of a MACE force field (resumable).

Rounds of: train a MACE committee on all labels so far, score it on a fixed test
set, explore with short Langevin MD on the committee mean, DFT-label the frames
whose max committee force deviation exceeds the threshold (default 10 meV/Å).
Rerun the same command to resume after an interruption; raise ``max_rounds``
(or pass ``--max-rounds``) to extend a finished run. See
``mlh_ipi.workflows.al_mace`` and ``examples/al_mace/``.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("al-mace", help="active learning of a MACE force field with a committee",
                       description=__doc__)
    p.add_argument("config", type=Path, help="TOML config (see examples/al_mace/si8.toml)")
    p.add_argument("--max-rounds", type=int, default=None, help="override max_rounds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.workflows.al_mace import CURVE, load_config, run_active_learning

    cfg = load_config(args.config)
    changes = {}
    if args.max_rounds is not None:
        changes["max_rounds"] = args.max_rounds
    if args.threads is not None:
        changes["threads"] = args.threads
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
    state = run_active_learning(cfg, progress=not args.no_progress)
    print(f"{state['reason']}; learning curve: {cfg.work / (CURVE + '.csv')}")
    for row in state["history"]:
        print(f"  round {row['round']}: {row['n_train']} training structures, "
              f"test E RMSE {row['energy_rmse_mev_per_atom']:.2f} meV/atom, "
              f"F RMSE {row['force_rmse_mev_per_a']:.1f} meV/Å")
    return 0
