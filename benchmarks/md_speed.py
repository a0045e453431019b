"""MD speed: LAMMPS + MACE (fix external callback) vs MACE through ASE's Langevin MD.

Same model (a float64 MACE trained by ``mace_run_train`` on GaAs BOP energies and
forces, ``mlh_ipi.forcefield.classical_fit.gaas_bop_mace``, cached under
``runs/benchmarks/gaas_bop_mace``; or ``--model``),
same structure (zincblende GaAs at a = 5.65 Angstrom), same thermostat settings
(Langevin, 300 K, damping 0.1 ps, time step 1 fs), same thread count. Sizes 64
and 216 atoms come from ``mlh_ipi.structures.gaas.gaas_supercell``; 512 atoms
(4x4x4 conventional cubes, which ``gaas_supercell`` does not offer) from
``ase.build.bulk(...).repeat(4)``.

For each size and engine the MD runs ``--steps`` steps after one warm-up force
call, ``--repeats`` times; the table shows the fastest repeat (ms per MD step,
force call included; LAMMPS's loop time, which excludes its setup force call)
and the median, and the ratio ASE / LAMMPS of each (> 1: LAMMPS faster). The
machine is shared, so the engines alternate within each repeat.

Usage::

    python benchmarks/md_speed.py [--sizes 64 216 512] [--steps 20] [--repeats 2]
                                  [--threads 1] [--out runs/benchmarks/md_speed.json]
"""
from __future__ import annotations

import argparse
import logging
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from mlh_ipi.forcefield.classical_fit import gaas_bop_mace
from mlh_ipi.atomic_io import write_json
from mlh_ipi.lammps.md import run_md
from mlh_ipi.threads import configure_threads

REPO = Path(__file__).resolve().parents[1]
BENCH_MODEL_DIR = REPO / "runs" / "benchmarks" / "gaas_bop_mace"
A_BOP = 5.65  # Angstrom, the lattice constant the benchmark model was fitted around
T_K, DT_PS, TDAMP_PS = 300.0, 0.001, 0.1


def gaas_cell(n_atoms: int):
    from ase.build import bulk

    from mlh_ipi.structures.gaas import gaas_supercell

    if n_atoms == 512:
        return bulk("GaAs", "zincblende", a=A_BOP, cubic=True).repeat((4, 4, 4))
    return gaas_supercell(n_atoms, a=A_BOP)


def lammps_ms_per_step(model: Path, atoms, steps: int) -> tuple[float, float]:
    """(ms per MD step, ms per MACE call) for LAMMPS + MACE, Langevin NVT."""
    with tempfile.TemporaryDirectory() as tmp:
        (res,) = run_md(REPO / "lammps_inputs" / "md_nvt_langevin.in", model, atoms, [T_K], steps,
                        tmp, variables={"dt": DT_PS, "tdamp": TDAMP_PS, "thermo_every": steps,
                                        "dump_every": steps, "restart_every": 10 * steps},
                        analyse=False, progress=False)
    return res.ms_per_step, res.mace_ms_per_call


def ase_ms_per_step(model: Path, atoms, steps: int) -> float:
    """ms per MD step for MACECalculator + ase.md.langevin.Langevin."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from mace.calculators import MACECalculator

    atoms = atoms.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms.calc = MACECalculator(model_paths=str(model), device="cpu", default_dtype="float64")
    MaxwellBoltzmannDistribution(atoms, temperature_K=T_K, rng=np.random.default_rng(1))
    dyn = Langevin(atoms, DT_PS * 1000 * units.fs, temperature_K=T_K,
                   friction=1.0 / (TDAMP_PS * 1000 * units.fs), rng=np.random.default_rng(2))
    atoms.get_forces()  # warm-up, as LAMMPS's setup force call
    t0 = time.perf_counter()
    dyn.run(steps)
    return 1e3 * (time.perf_counter() - t0) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 216, 512])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", type=Path, default=None, help="MACE model (default: fitted)")
    parser.add_argument("--out", type=Path, default=REPO / "runs/benchmarks/md_speed.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    configure_threads(args.threads)
    model = args.model or gaas_bop_mace(BENCH_MODEL_DIR)
    rows = []
    for n in args.sizes:
        atoms = gaas_cell(n)
        lmp, mace_call, ase = [], [], []
        for _ in range(args.repeats):  # interleave the engines so load changes hit both
            ms, call = lammps_ms_per_step(model, atoms, args.steps)
            lmp.append(ms)
            mace_call.append(call)
            ase.append(ase_ms_per_step(model, atoms, args.steps))
        row = {"atoms": n, "lammps_ms_per_step": min(lmp), "lammps_mace_ms_per_call": min(mace_call),
               "ase_ms_per_step": min(ase), "ratio_ase_over_lammps": min(ase) / min(lmp),
               "lammps_median": float(np.median(lmp)), "ase_median": float(np.median(ase)),
               "ratio_median": float(np.median(ase) / np.median(lmp)),
               "lammps_all": lmp, "ase_all": ase}
        rows.append(row)
        print(f"{n:5d} atoms: LAMMPS {row['lammps_ms_per_step']:8.1f} ms/step "
              f"(MACE call {row['lammps_mace_ms_per_call']:7.1f})  ASE {row['ase_ms_per_step']:8.1f}"
              f" ms/step  ratio ASE/LAMMPS {row['ratio_ase_over_lammps']:.2f} "
              f"(medians {row['lammps_median']:.1f} / {row['ase_median']:.1f}: "
              f"{row['ratio_median']:.2f})", flush=True)
    print()
    print("| atoms | LAMMPS+MACE ms/step (min / median) | MACE call ms (min) "
          "| ASE+MACE ms/step (min / median) | ASE / LAMMPS (min / median) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['atoms']} | {r['lammps_ms_per_step']:.1f} / {r['lammps_median']:.1f} "
              f"| {r['lammps_mace_ms_per_call']:.1f} "
              f"| {r['ase_ms_per_step']:.1f} / {r['ase_median']:.1f} "
              f"| {r['ratio_ase_over_lammps']:.2f} / {r['ratio_median']:.2f} |")
    write_json(args.out, {"rows": rows, "steps": args.steps, "repeats": args.repeats,
                          "threads": args.threads, "model": str(model),
                          "machine": platform.platform(), "cpu_count": len(os.sched_getaffinity(0)),
                          "load_average": os.getloadavg()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
