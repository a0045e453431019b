"""Regenerate ``tests/data/si8_cheap/``: 10 rattled 8-atom cubic Si cells at a cheap DFT setting.

Cheap on purpose (30 Ha grid, precision 1e-6, conv_tol 1e-6; about 3 s a label on
one core): they feed the MACE export/training/committee tests and the
active-learning loop test, which labels new Si8 structures at the same setting::

    OMP_NUM_THREADS=1 python tests/data/make_si8_cheap.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from ase.build import bulk

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mlh_ipi.data.labelling import label_batch  # noqa: E402
from mlh_ipi.dft.settings import DFTSettings  # noqa: E402
from mlh_ipi.structures.rattle import rattled_snapshots  # noqa: E402

HERE = Path(__file__).resolve().parent / "si8_cheap"
SETTINGS = DFTSettings(ke_cutoff=30.0, precision=1e-6, conv_tol=1e-6)
LATTICE_A = 5.43


def main() -> None:
    host = bulk("Si", "diamond", a=LATTICE_A, cubic=True)
    # two rattle amplitudes (Å) so the set spans small and larger distortions
    snaps = rattled_snapshots(host, std=0.05, count=5, seed=0) + \
        rattled_snapshots(host, std=0.10, count=5, seed=1)
    report = label_batch(snaps, HERE, SETTINGS, source="tests/data/make_si8_cheap.py")
    print(report.summary())


if __name__ == "__main__":
    main()
