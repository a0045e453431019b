"""How far are the MLH analytic forces from -dE/dR of E_KS[D(H_ML(R))]?

The MLH forces are the Kohn-Sham force expression (Hellmann-Feynman + Pulay
with W) evaluated at the non-self-consistent density D of the predicted H
(docs/method.md). The total derivative of E_KS[D(H_ML(R))] along a geometry
change also contains Tr[(dE/dD) dD/dR], with dE/dD = F[D] - the KS matrix of
D - which vanishes only when D is self-consistent. This script measures the
difference by central finite differences of the MLH energy (the model
re-predicts H at every displaced geometry):

    F_fd[a, x] = -(E(R + h e_ax) - E(R - h e_ax)) / 2h

for ``--components`` randomly chosen (atom, direction) pairs, and prints the
analytic force, F_fd, their difference and a table summary.

Usage::

    python benchmarks/force_consistency.py MODEL STRUCTURE [--components 6] [--step 0.005]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.io import read

from mlh_ipi.threads import configure_threads


def energy_ev(calc, atoms) -> float:
    calc.calculate(atoms, properties=["energy"])
    return calc.results["energy"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model")
    p.add_argument("structure", type=Path)
    p.add_argument("--components", type=int, default=6)
    p.add_argument("--step", type=float, default=0.005, help="finite-difference step (Angstrom)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/force_consistency.json"))
    args = p.parse_args(argv)
    configure_threads()
    from mlh_ipi.calculator import MLHCalculator

    atoms = read(args.structure, index=-1)
    calc = MLHCalculator(args.model, committee_energy_spread=False)
    t0 = time.perf_counter()
    calc.calculate(atoms, properties=["energy", "forces"])
    forces = calc.results["forces"].copy()
    t_ef = time.perf_counter() - t0
    rng = np.random.default_rng(args.seed)
    picks = [(int(a), int(x)) for a, x in zip(rng.choice(len(atoms), args.components, replace=len(atoms) < args.components),
                                                rng.integers(0, 3, args.components))]
    rows = []
    print(f"# {args.structure} ({len(atoms)} atoms), model {args.model}, step {args.step} A, E+F {t_ef:.1f} s")
    print("| atom | dir | F analytic (eV/A) | F finite diff (eV/A) | difference (meV/A) |")
    print("|---|---|---|---|---|")
    for a, x in picks:
        e = []
        for sign in (1, -1):
            disp = atoms.copy()
            disp.positions[a, x] += sign * args.step
            e.append(energy_ev(calc, disp))
        f_fd = -(e[0] - e[1]) / (2 * args.step)
        rows.append({"atom": a, "dir": "xyz"[x], "analytic": float(forces[a, x]), "fd": float(f_fd),
                     "diff_mev_per_a": float((forces[a, x] - f_fd) * 1000)})
        r = rows[-1]
        print(f"| {a} | {r['dir']} | {r['analytic']:+.4f} | {r['fd']:+.4f} | {r['diff_mev_per_a']:+.1f} |", flush=True)
    diffs = np.array([r["diff_mev_per_a"] for r in rows])
    mags = np.abs([r["fd"] for r in rows]) * 1000
    summary = {"structure": str(args.structure), "atoms": len(atoms), "model": str(args.model),
               "step_a": args.step, "mean_abs_diff_mev_per_a": float(np.abs(diffs).mean()),
               "max_abs_diff_mev_per_a": float(np.abs(diffs).max()),
               "mean_abs_force_mev_per_a": float(mags.mean()), "rows": rows}
    from mlh_ipi.atomic_io import write_json

    write_json(args.out, summary)
    print(f"\nmean |F_analytic - F_fd| = {summary['mean_abs_diff_mev_per_a']:.1f} meV/A "
          f"(max {summary['max_abs_diff_mev_per_a']:.1f}); mean |F| = {summary['mean_abs_force_mev_per_a']:.0f} meV/A")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))


if __name__ == "__main__":
    main()
