"""Regenerate ``tests/data/si2_cheap/``: 4 rattled 2-atom Si cells labelled at a cheap setting.

Cheap on purpose (30 Ha grid, precision 1e-6): these labels train the tiny model
that the i-PI/ASE relaxation tests serve, so every E_KS evaluation takes seconds::

    OMP_NUM_THREADS=1 python tests/data/make_si2_cheap.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mlh_ipi.data.labelfile import write_label  # noqa: E402
from mlh_ipi.dft.label import label  # noqa: E402
from mlh_ipi.dft.settings import DFTSettings  # noqa: E402

HERE = Path(__file__).resolve().parent / "si2_cheap"
SETTINGS = DFTSettings(ke_cutoff=30.0, precision=1e-6, conv_tol=1e-9)


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    for seed in (0, 1, 2, 4):  # seed 3 closes the Gamma gap: its SCF does not converge
        at = bulk("Si", "diamond", a=5.43)
        at.rattle(stdev=0.08, seed=seed)
        write_label(HERE / f"si2_s{seed}", label(at, SETTINGS))
        print("wrote", seed)


if __name__ == "__main__":
    main()
