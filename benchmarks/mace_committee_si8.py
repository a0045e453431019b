"""MACE committee on the cheap Si8 labels: training time, held-out errors, deviation near vs far.

Same setup as ``tests/test_forcefield.py``: two models (seeds 0, 1), r_max 4 Å,
40 epochs, trained by mace-torch on labels 0-7 of ``tests/data/si8_cheap``;
labels 8-9 held out. Prints a JSON summary::

    OMP_NUM_THREADS=1 python benchmarks/mace_committee_si8.py --out runs/benchmarks/mace_si8
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from ase.build import bulk

from mlh_ipi.data.labelfile import label_files
from mlh_ipi.forcefield.committee import load_mace
from mlh_ipi.forcefield.deviation import committee_deviation
from mlh_ipi.forcefield.errors import force_field_errors
from mlh_ipi.forcefield.export import export_labels, read_reference
from mlh_ipi.forcefield.mace_training import MACETrainingSettings, train_committee
from mlh_ipi.structures.rattle import rattle

SI8 = Path(__file__).resolve().parents[1] / "tests" / "data" / "si8_cheap"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--committee", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(1)
    files = label_files(SI8)
    export_labels(files[:8], args.out / "train.extxyz")
    export_labels(files[8:], args.out / "test.extxyz")
    t0 = time.perf_counter()
    models = train_committee(args.out / "train.extxyz", args.out,
                             MACETrainingSettings(r_max=4.0, max_num_epochs=args.epochs),
                             args.committee, seed=0, progress=False)
    seconds = time.perf_counter() - t0
    calc = load_mace(models)
    test = force_field_errors(calc, *read_reference(args.out / "test.extxyz"))
    host = bulk("Si", "diamond", a=5.43, cubic=True)
    near = [committee_deviation(calc, rattle(host, 0.05, seed=100 + s)).max_force_std for s in range(6)]
    far = [committee_deviation(calc, rattle(host, 0.40, seed=200 + s)).max_force_std for s in range(4)]
    t1 = time.perf_counter()
    for _ in range(20):
        host.positions += 1e-4
        host.calc = calc
        host.get_forces()
    print(json.dumps({
        "train_seconds_total": round(seconds, 1), "models": args.committee, "epochs": args.epochs,
        "held_out": {k: round(v, 2) for k, v in test.items()},
        "max_force_std_ev_per_a_rattle_0.05": [round(x, 3) for x in near],
        "max_force_std_ev_per_a_rattle_0.40": [round(x, 3) for x in far],
        "committee_eval_ms_per_step_si8": round(1e3 * (time.perf_counter() - t1) / 20, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
