"""``mlh-ipi single-point MODEL STRUCTURE``: MLH energy, forces, band gap and defect levels of one structure.

No SCF: the model predicts H, its eigenvectors give the density, and the
Kohn-Sham functional of the model's DFT settings gives E and F at that density.
Prints energy (eV), max |F| (eV/Å), band gap, VBM, CBM and defect levels (eV);
writes the structure with ``energy``/``forces`` (and the electronic extras in
the info line) as extxyz. ``--h-only`` skips E and F (gap and levels only).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("single-point", help="MLH energy, forces, gap and defect levels of one structure",
                       description=__doc__)
    p.add_argument("model", type=Path, help="checkpoint (.pt) or committee folder")
    p.add_argument("structure", type=Path, help="any ASE-readable structure (last frame is used)")
    p.add_argument("--out", type=Path, help="output extxyz (default: <structure>.mlh.extxyz)")
    p.add_argument("--defect-atoms", type=int, nargs="*",
                   help="atom indices for defect-level picking (default: info['defect_atoms'|'defect_si'])")
    p.add_argument("--valence-states", type=int, default=None, metavar="N",
                   help="states below the host gap: band edges by count, not occupation "
                        "(default: info['valence_states'], else occupation)")
    p.add_argument("--level-resonance", type=float, default=None, metavar="EV",
                   help="also report defect states up to EV outside the gap (default: info['level_resonance_ev'] or 0)")
    p.add_argument("--h-only", action="store_true", help="gap and defect levels only (no energy/forces)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    from mlh_ipi.atomic_io import atomic_path
    from mlh_ipi.calculator import MLHCalculator

    if not args.structure.exists():
        raise FileNotFoundError(f"no such structure file: {args.structure}")
    atoms = read(args.structure, index=-1)
    calc = MLHCalculator(args.model, mode="h_only" if args.h_only else "energy",
                         defect_atoms=args.defect_atoms, valence_states=args.valence_states,
                         resonance_ev=args.level_resonance)
    t0 = time.perf_counter()
    calc.calculate(atoms, properties=[] if args.h_only else ["energy", "forces"])
    wall = time.perf_counter() - t0
    extras = calc.extras()
    report = {"structure": str(args.structure), "atoms": len(atoms), "wall_s": round(wall, 3)}
    if not args.h_only:
        forces = calc.results["forces"]
        report.update({"energy_ev": calc.results["energy"],
                       "max_force_ev_per_a": float(np.linalg.norm(forces, axis=1).max())})
    report.update(extras)
    out = args.out or args.structure.with_suffix(".mlh.extxyz")
    result = atoms.copy()
    result.info.update({k: (json.dumps(v) if isinstance(v, list) else v) for k, v in extras.items()})
    if not args.h_only:
        result.calc = SinglePointCalculator(result, energy=calc.results["energy"],
                                            forces=calc.results["forces"])
    with atomic_path(out) as tmp:
        write(tmp, result, format="extxyz")
    report["written"] = str(out)
    _print(report)
    return 0


def _print(report: dict) -> None:
    lines = [f"structure   {report['structure']} ({report['atoms']} atoms, {report['wall_s']:.2f} s)"]
    if "energy_ev" in report:
        lines += [f"energy      {report['energy_ev']:.6f} eV",
                  f"max |F|     {report['max_force_ev_per_a']:.4f} eV/Å"]
    lines += [f"band gap    {report['band_gap']:.4f} eV  (VBM {report['vbm']:.4f}, CBM {report['cbm']:.4f} eV)"]
    levels = report.get("defect_levels", [])
    if levels:
        above = ", ".join(f"{x:+.3f}" for x in report["defect_levels_above_vbm"])
        below = ", ".join(f"{x:+.3f}" for x in report["defect_levels_below_cbm"])
        lines.append(f"defect lvls {len(levels)} in gap: VBM{above} eV / CBM{below} eV")
    else:
        lines.append("defect lvls none in the gap")
    for key in ("band_gap_std", "energy_std", "h_max_std"):
        if key in report:
            lines.append(f"{key:<11} {report[key]:.4f} eV (committee spread)")
    lines.append(f"written     {report['written']}")
    print("\n".join(lines))
    print(json.dumps(report))
