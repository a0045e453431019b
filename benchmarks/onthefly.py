"""On-the-fly stream overhead: MD wall time with the MLH snapshot hook on vs off.

Production path: ``mlh_ipi.lammps.md.run_md`` (LAMMPS, ``lammps_inputs/md_nvt_langevin.in``,
MACE forces through ``fix external``) on diamond Si, with and without
``mlh_ipi.stream.sources.lammps_hook`` feeding MLH worker processes
(``MLHCalculator(mode="h_only")``). The MACE model is the small untrained
float64 MACE trained by ``mace_run_train`` on Si Tersoff energies and forces
(``mlh_ipi.forcefield.classical_fit``, cached under ``runs/benchmarks/si_tersoff_mace``;
timing does not depend on its accuracy) and the
MLH model a tiny Si model trained for 10 epochs on ``tests/data/si2_cheap``
(about 5 s), unless ``--mlh-model`` is given.

Reported per configuration (``--repeats`` pairs of MD runs, hook off then on):

* best MD wall time hook off / on and the median of the paired on/off ratios
  (target <= 1.10);
* snapshots produced / processed / dropped, seconds MD was blocked, snapshots
  per second processed by the workers, and the time MD spent inside the hook
  callback (copying positions, enqueuing);
* a classical-potential stress test (Tersoff Si, microseconds per MD step) that
  shows the per-snapshot cost of the hook itself.

MD timing covers ``run_md`` only; draining the queue after MD (``close``) is
reported separately as "drain s".

Run::

    OMP_NUM_THREADS=1 python benchmarks/onthefly.py [--cells 2] [--steps 600] [--every 25] \
        [--workers 1] [--policy drop] [--repeats 3]

The GaAs accuracy part of the issue (MLH vs DFT band gap and defect levels on >= 10 MACE-MD
snapshots per temperature) is not measured here: it is the ``dftcheck`` stage of
``examples/gaas_defects/run.py``, which labels streamed snapshots with DFT and compares them with the
stream's per-snapshot results (``mlh-ipi stream check-dft``). Held-out MD snapshots can also be
scored with ``mlh-ipi eval-h MODEL LABEL_FOLDERS``; BENCHMARKS.md, "The band-edge eigenvalue term on
the Harris GaAs MLH", has that table.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def train_tiny_mlh(out: Path) -> Path:
    from mlh_ipi.model.network import ModelConfig
    from mlh_ipi.model.training import TrainConfig, train

    train(TrainConfig(folders=(str(ROOT / "tests" / "data" / "si2_cheap"),), output=str(out), epochs=10,
                      batch_size=2, lr=1e-2, progress=False, split=(1.0, 0.0, 0.0),
                      model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6,
                                        radial_hidden=16, hidden_irreps="8x0e+4x1o+4x1e+2x2e")))
    return out / "best.pt"


def mace_md(work: Path, mace: Path, structure, steps: int, hooks=()) -> float:
    from mlh_ipi.lammps.md import run_md

    if work.exists():
        shutil.rmtree(work)
    t0 = time.perf_counter()
    run_md(ROOT / "lammps_inputs" / "md_nvt_langevin.in", mace, structure, [300.0], steps, work,
           type_to_element=["Si"], hooks=list(hooks), analyse=False, progress=False,
           variables={"dump_every": 100, "thermo_every": 100, "restart_every": 100000})
    return time.perf_counter() - t0


def tersoff_md(steps: int, cells: int, hooks=()) -> float:
    from mlh_ipi.lammps.runtime import open_lammps, potential_file

    lmp = open_lammps()
    for c in ["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
              "lattice diamond 5.431", f"region box block 0 {cells} 0 {cells} 0 {cells}",
              "create_box 1 box", "create_atoms 1 box", "mass 1 28.0855", "pair_style tersoff",
              f"pair_coeff * * {potential_file('Si.tersoff')} Si",
              "velocity all create 600 4928459 mom yes rot no dist gaussian", "timestep 0.001",
              "fix nve all nve", "fix bath all langevin 300 300 0.1 699483"]:
        lmp.command(c)
    for h in hooks:
        h(lmp)
    t0 = time.perf_counter()
    lmp.command(f"run {steps}")
    dt = time.perf_counter() - t0
    lmp.close()
    return dt


def with_stream(run, mlh: Path, out: Path, every: int, workers: int, policy: str, maxsize: int):
    """Run ``run(hooks)`` with a stream attached; (MD seconds, drain seconds, pipeline, hook)."""
    from mlh_ipi.stream.sources import lammps_hook
    from mlh_ipi.stream.workers import SnapshotPipeline

    if out.exists():
        shutil.rmtree(out)
    pipe = SnapshotPipeline(mlh, out, workers=workers, maxsize=maxsize, policy=policy).start()
    hook = lammps_hook(pipe, every, type_map=["Si"], source="bench", temperature_k=300.0)
    md_s = run([hook])
    hook.raise_if_failed()
    t0 = time.perf_counter()
    pipe.close()
    return md_s, time.perf_counter() - t0, pipe, hook


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=2, help="diamond Si cells per edge (8 atoms each)")
    ap.add_argument("--steps", type=int, default=600, help="MACE MD steps")
    ap.add_argument("--every", type=int, default=25, help="snapshot stride, MD steps")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--policy", choices=("block", "drop"), default="drop")
    ap.add_argument("--queue", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tersoff-steps", type=int, default=20000)
    ap.add_argument("--mlh-model", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)

    from ase.build import bulk

    from mlh_ipi.forcefield.classical_fit import fit_mace_to_classical
    from mlh_ipi.lammps.classical import SI_TERSOFF

    tmp = Path(tempfile.mkdtemp(prefix="onthefly_"))
    mlh = args.mlh_model or train_tiny_mlh(tmp / "mlh")
    structure = bulk("Si", "diamond", a=5.431, cubic=True).repeat(args.cells)
    mace = fit_mace_to_classical(ROOT / "runs" / "benchmarks" / "si_tersoff_mace",
                                 bulk("Si", "diamond", a=5.431, cubic=True).repeat(2), SI_TERSOFF)
    natoms = len(structure)

    rows = []
    # MD alternates hook off / on so that drifts of the (shared) machine's load hit both alike
    mace_md(tmp / "warm", mace, structure, 20)  # imports, TorchScript, page cache
    tersoff_md(200, args.cells)
    cases = [
        ("MACE (run_md)", args.steps, args.every,
         lambda hooks: mace_md(tmp / "md", mace, structure, args.steps, hooks)),
        ("Tersoff", args.tersoff_steps, args.every * 40,
         lambda hooks: tersoff_md(args.tersoff_steps, args.cells, hooks)),
    ]
    for name, steps, every, run in cases:
        offs, ons = [], []
        for _ in range(args.repeats):
            offs.append(run(()))
            ons.append(with_stream(run, mlh, tmp / "stream", every, args.workers, args.policy, args.queue))
        best = min(ons, key=lambda r: r[0])
        ratio = statistics.median(on[0] / off for on, off in zip(ons, offs))
        rows.append((name, steps, every, min(offs), ratio, *best))

    print(f"\nOn-the-fly stream overhead: {natoms} Si atoms, {args.workers} worker(s), policy "
          f"{args.policy}, queue {args.queue}; best of {args.repeats}")
    print(f"{'MD':>14} {'steps':>6} {'every':>6} {'off s':>8} {'on s':>8} {'on/off':>7} {'produced':>8} "
          f"{'processed':>9} {'dropped':>7} {'blocked s':>9} {'snap/s':>7} {'hook ms/snap':>12} "
          f"{'drain s':>7} {'hook %MD':>8}")
    for name, steps, every, t_off_, ratio, t_on, drain, pipe, hook in rows:
        c = pipe.state.counters
        rate = c.processed / pipe.worker_seconds if pipe.worker_seconds else float("nan")
        print(f"{name:>14} {steps:>6} {every:>6} {t_off_:>8.2f} {t_on:>8.2f} {ratio:>7.3f} "
              f"{c.produced:>8} {c.processed:>9} {c.dropped:>7} {c.blocked_s:>9.2f} {rate:>7.2f} "
              f"{1e3 * hook.seconds / max(hook.calls, 1):>12.3f} {drain:>7.2f} {100 * hook.seconds / t_on:>8.2f}")
    print("off/on s: best MD wall time; on/off: median of the paired ratios; counters of the best 'on' run")
    print("snap/s: snapshots per second of worker model time (per worker); hook ms/snap: time MD "
          "spends in the callback per snapshot (copy + enqueue); hook %MD: its share of the MD wall time "
          "(the rest of on - off is the worker competing for the cores)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
