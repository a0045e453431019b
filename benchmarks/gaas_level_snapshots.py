"""Fresh held-out MD snapshots of a GaAs defect cell for the defect-level check of issue 7.

Issue 7 asks for the MLH defect-level MAE on >= 10 MD snapshots per temperature. Of the cells it
names, As_i has the most distinct DFT defect levels in these 64-atom Gamma-point cells (its p levels,
resonant just above the conduction-band minimum; see ``gaas_band_edges.py``), and the held-out set
(``benchmarks/results/gaas_md_check`` + the AL's ``test`` labels) holds 3 / 4 / 3 of them at
100 / 300 / 500 K: the pool's six As_i frames per temperature are all used for training or checks.
This script runs new LAMMPS + MACE NVT trajectories of the cell (the pool's protocol: the study's
Langevin script, 1 fs steps, 1000 steps, ``--skip`` equilibration steps not sampled; a seed the pool
did not use, so the trajectories are independent of every labelled frame), takes ``--count`` evenly
spaced frames per temperature and writes them, hottest temperature first, to ``OUT/frames.extxyz``
with ``info`` = defect, temperature_K, md_step, md_seed. Label them with::

    mlh-ipi --threads 1 label OUT/frames.extxyz --out OUT/labels --compact \\
        --settings benchmarks/results/gaas_md_check/settings.json \\
        --guess-model benchmarks/results/gaas_mlh_baseline/harris_eig/best.pt

and score them next to the other held-out labels::

    python benchmarks/gaas_md_accuracy.py NAME=MODEL --labels benchmarks/results/gaas_md_check/labels \\
        benchmarks/results/gaas_onthefly/work/al/labels/test OUT/labels

Run (resumable: finished MD is not rerun, an existing frames file is kept)::

    OMP_NUM_THREADS=1 python benchmarks/gaas_level_snapshots.py --cell As_i \\
        --out benchmarks/results/gaas_md_check_levels
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MD_SCRIPT = ROOT / "lammps_inputs" / "md_nvt_langevin.in"
POOL_MACE = ROOT / "benchmarks/results/gaas_mace_accuracy/work/al/round_001/committee/member_1/mace.model"

log = logging.getLogger("gaas_level_snapshots")


def snapshot_steps(steps: int, skip: int, count: int, every: int) -> list[int]:
    """``count`` evenly spaced dump steps in (skip, steps], on the dump stride ``every``."""
    if count < 1 or skip >= steps:
        raise ValueError(f"need count >= 1 and skip < steps, got count={count}, skip={skip}, steps={steps}")
    picks = np.linspace(skip + every, steps, count)
    out = sorted({int(round(p / every)) * every for p in picks})
    if len(out) < count:
        raise ValueError(f"{count} frames do not fit between steps {skip} and {steps} every {every}")
    return out


def main(argv=None) -> Path:
    from ase.io import write

    from mlh_ipi.atomic_io import atomic_path
    from mlh_ipi.lammps.analysis import dump_atoms
    from mlh_ipi.lammps.md import run_md
    from mlh_ipi.structures.gaas import gaas_defect

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cell", default="As_i", help="defect kind (mlh_ipi.structures.gaas)")
    p.add_argument("--atoms", type=int, default=64, help="host supercell size")
    p.add_argument("--temperatures", type=float, nargs="+", default=[500.0, 300.0, 100.0], help="K")
    p.add_argument("--count", type=int, default=7, help="frames per temperature")
    p.add_argument("--steps", type=int, default=1000, help="MD steps per temperature (1 fs)")
    p.add_argument("--skip", type=int, default=400, help="equilibration steps not sampled")
    p.add_argument("--every", type=int, default=10, help="dump stride (steps)")
    p.add_argument("--seed", type=int, default=4242, help="MD seed (the pool used 777-782)")
    p.add_argument("--mace", type=Path, default=POOL_MACE, help="MACE model of the MD (default: the pool's)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")

    out = args.out / "frames.extxyz"
    if out.exists():
        log.info("%s exists, kept", out)
        return out
    steps = snapshot_steps(args.steps, args.skip, args.count, args.every)
    cell = gaas_defect(args.cell, args.atoms)
    cell.info.pop("defect_atoms", None)
    md = args.out / "md"
    run_md(MD_SCRIPT, [args.mace], cell, args.temperatures, args.steps, md, seed=args.seed, threads=1,
           analyse=False, variables={"dump_every": args.every, "thermo_every": 50})
    frames = []
    for t in args.temperatures:
        for s, at in zip(steps, dump_atoms(md / f"T{t:g}K" / "traj.lammpstrj", cell.get_chemical_symbols(),
                                           steps=steps)):
            at.info.pop("step", None)
            at.info.update({"defect": args.cell, "temperature_K": float(t), "md_step": s, "md_seed": args.seed})
            frames.append(at)
    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")
    log.info("%s: %d frames (%s K, steps %s)", out, len(frames), "/".join(f"{t:g}" for t in args.temperatures),
             steps)
    return out


if __name__ == "__main__":
    main()
