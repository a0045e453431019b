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

from mlh_ipi.cli.al_common import add_al_parser


def register(sub: argparse._SubParsersAction) -> None:
    add_al_parser(sub, "al-mlh", help="active learning of the Hamiltonian model with a committee",
                  description=__doc__, config_help="TOML config (see examples/gaas_defects/)",
                  workflow="mlh_ipi.workflows.al_mlh", overrides=("max_rounds",),
                  row_format="test H MAE {test_h_mae_mev:.1f} meV, gap MAE {test_gap_mae_mev:.0f} meV, "
                             "committee std {test_mean_max_std_mev:.1f} meV")
