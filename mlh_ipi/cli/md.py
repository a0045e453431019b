"""``mlh-ipi md``: LAMMPS MD with MACE forces (fix external); ``mlh-ipi md-check``: physics checks.

    mlh-ipi md lammps_inputs/md_nvt_langevin.in --mace gaas.model --data gaas64.extxyz \\
        --temps 100 300 500 --steps 2000 --out runs/md_gaas
    mlh-ipi md lammps_inputs/md_nve.in --mace m1.model m2.model --data cell.data \\
        --types Ga As --temps 300 --steps 5000 --out runs/nve --var dt 0.0005
    mlh-ipi md-check runs/md_gaas/T300K

Each temperature runs in ``OUT/T<T>K/`` (log.lammps, traj.lammpstrj, restart.<step>,
md.json, analysis.json and PNG plots). Rerunning the same command resumes every
folder from its newest restart file up to ``--steps``. Temperatures in K, time
step (``--var dt``) in ps, LAMMPS metal units throughout.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("md", help="LAMMPS MD with MACE forces (temperature series, resumable)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("script", type=Path, help="LAMMPS input declaring 'fix ID all external "
                   "pf/callback 1 1' (see lammps_inputs/md_*.in)")
    p.add_argument("--mace", type=Path, nargs="+", required=True,
                   help="MACE model file(s); several = committee mean")
    p.add_argument("--data", required=True,
                   help="structure: extxyz/cif/... (ASE) or a LAMMPS data file (*.data, *.lmp)")
    p.add_argument("--types", nargs="+", default=None, metavar="EL",
                   help="element of LAMMPS type 1, 2, ... (default: by atomic number for ASE "
                        "files, from the masses for data files)")
    p.add_argument("--temps", type=float, nargs="+", required=True, help="temperatures, K")
    p.add_argument("--steps", type=int, required=True, help="final step number of each run")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--seed", type=int, default=12345, help="velocity/thermostat seed")
    p.add_argument("--var", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="set a script variable, e.g. --var dt 0.0005 (repeatable)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--device", default="cpu", help="torch device for MACE (default cpu)")
    p.add_argument("--no-analysis", action="store_true", help="skip drift/RDF/VDOS checks")
    p.set_defaults(func=run)

    c = sub.add_parser("md-check", help="energy drift, RDF, VACF/VDOS of an MD folder (+ PNGs)")
    c.add_argument("folders", type=Path, nargs="+", help="MD folders (OUT/T<T>K)")
    c.set_defaults(func=check)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.lammps.md import run_md

    results = run_md(args.script, args.mace, args.data, args.temps, args.steps, args.out,
                     type_to_element=args.types, seed=args.seed, variables=dict(args.var),
                     device=args.device, dtype=args.dtype, threads=args.threads,
                     analyse=not args.no_analysis)
    print(f"{'run':>10} {'steps':>13} {'ms/step':>9} {'MACE ms':>9} {'<T> K':>8} "
          f"{'drift meV/atom/ps':>18}")
    for r in results:
        name = Path(r.folder).name
        steps = f"{r.start_step}->{r.final_step}" + (" done" if r.skipped else "")
        stats = Path(r.folder) / "analysis.json"
        t_mean, drift = "", ""
        if stats.is_file():
            s = json.loads(stats.read_text())
            t_mean = f"{s['mean_temperature_K']:.1f}"
            drift = f"{s['energy']['drift_mev_per_atom_per_ps']:.3g}" if "energy" in s else ""
        ms = f"{r.ms_per_step:.1f}" if r.ms_per_step else "-"
        mace = f"{r.mace_ms_per_call:.1f}" if r.mace_ms_per_call else "-"
        print(f"{name:>10} {steps:>13} {ms:>9} {mace:>9} {t_mean:>8} {drift:>18}")
    return 0


def check(args: argparse.Namespace) -> int:
    from mlh_ipi.lammps.analysis import analyse_run

    for folder in args.folders:
        print(f"{folder}: {json.dumps(analyse_run(folder), indent=1)}")
    return 0
