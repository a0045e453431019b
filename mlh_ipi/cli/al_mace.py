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

from mlh_ipi.cli.al_common import add_al_parser


def register(sub: argparse._SubParsersAction) -> None:
    add_al_parser(sub, "al-mace", help="active learning of a MACE force field with a committee",
                  description=__doc__, config_help="TOML config (see examples/al_mace/si8.toml)",
                  workflow="mlh_ipi.workflows.al_mace", overrides=("max_rounds", "threads"),
                  row_format="test E RMSE {energy_rmse_mev_per_atom:.2f} meV/atom, "
                             "F RMSE {force_rmse_mev_per_a:.1f} meV/Å")
