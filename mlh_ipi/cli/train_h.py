"""``mlh-ipi train-h CONFIG.toml [--resume] [--committee N]``: train the equivariant Hamiltonian model."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-h", help="train the equivariant Hamiltonian model on DFT labels",
                       description=__doc__)
    p.add_argument("config", type=Path, help="TOML config ([data], [model], [training]; "
                                             "see mlh_ipi.model.training)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUTPUT/checkpoint.pt (per member with --committee)")
    p.add_argument("--committee", type=int, default=1, metavar="N",
                   help="train N models with seeds seed..seed+N-1 into OUTPUT/member_XX")
    p.add_argument("--output", type=Path, default=None, help="override [training] output folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.model.training import TrainConfig, train, train_committee

    if not args.config.exists():
        raise FileNotFoundError(f"no such config file: {args.config}")
    if args.committee < 1:
        raise ValueError(f"--committee must be >= 1, got {args.committee}")
    cfg = TrainConfig.from_toml(args.config)
    changes = {}
    if args.output is not None:
        changes["output"] = str(args.output)
    if args.no_progress:
        changes["progress"] = False
    cfg = cfg.with_(**changes) if changes else cfg
    if args.committee == 1:
        summaries = [train(cfg, resume=args.resume)]
    else:
        summaries = train_committee(cfg, args.committee, resume=args.resume)
    print(json.dumps(summaries if len(summaries) > 1 else summaries[0], indent=2))
    return 0
