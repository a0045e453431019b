"""``mlh-ipi formation``: V_O formation energies, host and vacancies relaxed through i-PI.

    mlh-ipi formation host.extxyz --sites 12 30 --engine mlh --model best.pt --out vo_formation/
    mlh-ipi formation host.extxyz --sites 12 --engine dft --settings dft.json --out vo_dft/

E_f = E(V_O) - E(host) + ½ E(O2) in eV (O-rich limit), E(O2) from a DFT scan of
the triplet molecule with the model's DFT settings, cached in ``OUT/o2_reference.json``
(``--o2-energy-ev`` passes a known value instead). Writes ``formation.csv``,
``formation.json`` and ``formation.png``; rerunning resumes (finished
relaxations are not redone). Forces in eV/Angstrom.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("formation", help="V_O formation energies with relaxations through i-PI (MLH or DFT)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("host", type=Path, help="host structure (extxyz; the last frame is used)")
    p.add_argument("--sites", type=int, nargs="+", required=True,
                   help="host indices of the O atoms to remove, one vacancy each")
    p.add_argument("--engine", choices=("mlh", "dft"), default="mlh")
    p.add_argument("--model", help="MLH checkpoint or committee folder (required for --engine mlh; "
                                   "with --engine dft it only supplies the DFT settings)")
    p.add_argument("--settings", type=Path, help="DFTSettings JSON (engine dft, when no --model)")
    p.add_argument("--o2-energy-ev", type=float, default=None,
                   help="E(O2) in eV with the same DFT settings; skips the O2 scan")
    p.add_argument("--fmax", type=float, default=0.02,
                   help="stop when the max force component is below this (eV/Angstrom, default 0.02)")
    p.add_argument("--max-steps", type=int, default=500, help="optimiser steps per relaxation")
    p.add_argument("--optimizer", choices=("lbfgs", "bfgs"), default="lbfgs")
    p.add_argument("--vacancy-from", choices=("relaxed", "input"), default="relaxed",
                   help="cut each vacancy from the relaxed host (default) or the input host")
    p.add_argument("--force-mode", choices=("consistent", "hellmann_feynman"), default="consistent",
                   help="MLH forces: exact gradient of the MLH energy (default) or the KS force "
                        "expression at the predicted density")
    p.add_argument("--no-plot", action="store_true", help="skip formation.png")
    p.add_argument("--out", type=Path, required=True, help="output folder (resumable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ase.io import read

    from mlh_ipi.workflows.formation import formation_energies

    if args.engine == "mlh" and not args.model:
        raise ValueError("--engine mlh needs --model")
    if args.fmax <= 0 or args.max_steps < 1:
        raise ValueError("--fmax must be positive and --max-steps at least 1")
    host = read(args.host, index=-1)
    table = formation_energies(host, args.sites, args.out, engine=args.engine, model=args.model,
                               settings_json=args.settings, o2_energy_ev=args.o2_energy_ev,
                               fmax_ev_per_a=args.fmax, max_steps=args.max_steps,
                               optimizer=args.optimizer, vacancy_from=args.vacancy_from,
                               plot=not args.no_plot, force_mode=args.force_mode)
    print(f"E(O2) = {table.energy_o2_ev:.4f} eV ({table.o2_source}); "
          f"host E = {table.host.energy_ev:.4f} eV ({table.host.steps} steps)")
    print(table.markdown())
    print(f"wrote {table.csv_path}" + ("" if args.no_plot else f" and {table.png_path}"))
    return 0
