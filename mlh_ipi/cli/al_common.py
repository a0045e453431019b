"""What the active-learning commands share (``al-mace``, ``al-mlh``): their
arguments (a TOML config, ``--max-rounds``, ``--no-progress``) and their run
(load the config, apply the command-line overrides, run or resume the loop,
print one line per round)."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
from pathlib import Path


def add_al_parser(sub: argparse._SubParsersAction, name: str, *, help: str, description: str,
                  config_help: str, workflow: str, overrides: tuple[str, ...],
                  row_format: str) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with the arguments of every active-learning command;
    it runs :func:`run_al` with ``workflow``, ``overrides`` and ``row_format``."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("config", type=Path, help=config_help)
    p.add_argument("--max-rounds", type=int, default=None, help="override max_rounds")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=functools.partial(run_al, workflow=workflow, overrides=overrides,
                                          row_format=row_format))
    return p


def run_al(args: argparse.Namespace, workflow: str, overrides: tuple[str, ...], row_format: str) -> int:
    """Run (or resume) ``run_active_learning`` of the module ``workflow`` on ``args.config``.

    ``overrides``: the config fields replaced by the argument of the same name
    when it is given (not None), e.g. ``("max_rounds", "threads")``.
    ``row_format``: ``str.format`` template over a learning-curve row (its
    errors with units), printed per round after the training-set size.
    """
    wf = importlib.import_module(workflow)  # here, not at import: workflows load torch
    cfg = wf.load_config(args.config)
    changes = {k: getattr(args, k) for k in overrides if getattr(args, k) is not None}
    if changes:
        cfg = dataclasses.replace(cfg, **changes)
    state = wf.run_active_learning(cfg, progress=not args.no_progress)
    print(f"{state['reason']}; learning curve: {cfg.work / (wf.CURVE + '.csv')}")
    for row in state["history"]:
        print(f"  round {row['round']}: {row['n_train']} training structures, " + row_format.format(**row))
    return 0
