"""Shared argparse options for the DFT settings object (one place, every command)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mlh_ipi.dft.settings import DFTSettings


def add_dft_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("DFT settings (defaults: DFTSettings())")
    g.add_argument("--settings", type=Path, help="JSON file with DFTSettings fields")
    g.add_argument("--basis", help="e.g. gth-szv-molopt-sr, gth-dzvp-molopt-sr; per element like --pseudo")
    g.add_argument("--xc", help="exchange-correlation functional (default PBE)")
    g.add_argument("--pseudo", help="pseudopotential family (default gth-pbe), or per element: "
                   "\"gth-pbe,Ga=gth-pbe-q3\"")
    g.add_argument("--ke-cutoff", type=float, help="density grid cutoff in Hartree")
    g.add_argument("--smearing", type=float, help="Fermi-Dirac width in eV")
    g.add_argument("--kmesh", type=int, nargs=3, help="k-point mesh (default Gamma)")


def settings_from_args(args: argparse.Namespace) -> DFTSettings:
    base = {}
    if getattr(args, "settings", None):
        base = json.loads(Path(args.settings).read_text())
    for key in ("basis", "xc", "pseudo", "ke_cutoff", "smearing", "kmesh"):
        value = getattr(args, key, None)
        if value is not None:
            base[key] = value
    return DFTSettings.from_dict(base)
