"""MACE model for the benchmarks: the tests' small GaAs model, fitted to the BOP potential.

The builder lives in ``tests/mace_fixtures.py`` (one copy for tests and
benchmarks); this module puts ``tests/`` on the path and caches the fitted
model under ``runs/benchmarks/`` so repeated benchmark runs reuse it.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from mace_fixtures import bop_fitted_gaas_mace  # noqa: E402

DEFAULT_MODEL = REPO / "runs" / "benchmarks" / "gaas_bop_mace.model"


def gaas_benchmark_model(path: str | Path = DEFAULT_MODEL) -> Path:
    """Path of the BOP-fitted GaAs MACE model (r_max 4.5 A, float64), fitted on first use.

    Architecture: ScaleShiftMACE, 2 interactions, 16x0e hidden, max_ell 1,
    correlation 2 (about 25k parameters); 600 Adam steps on 23 BOP-labelled
    64-atom snapshots (300/600/900 K and +-2 % strain). The fit statistics are
    written next to it (``*.fit.txt``).
    """
    return bop_fitted_gaas_mace(path)
