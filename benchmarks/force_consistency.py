"""Are the MLH forces -dE/dR of the served energy E_KS[D(H_ML(R))]? Both force modes.

* ``hellmann_feynman``: the Kohn-Sham force expression (Hellmann-Feynman +
  Pulay with W) at the non-self-consistent density D of the predicted H. It
  drops Tr[F[D] dD/dR]'s non-SCF part, first order in the H error.
* ``consistent`` (default of ``MLHCalculator``): adds that term through the
  density response and the model's own dH_ML/dR (``mlh_ipi.energy.response``).

Reference: central finite differences of the MLH energy (the model re-predicts
H at every displaced geometry),

    F_fd[a, x] = -(E(R + h e_ax) - E(R - h e_ax)) / 2h

for ``--components`` randomly chosen (atom, direction) pairs. With ``--label``
(the structure's DFT label, same geometry) the DFT forces are printed too.

Usage::

    python benchmarks/force_consistency.py MODEL STRUCTURE [--components 6] [--step 0.005] [--label L.npz]
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
    p.add_argument("--label", type=Path, help="DFT label of the same structure (adds the DFT forces)")
    p.add_argument("--out", type=Path, default=Path("runs/force_consistency.json"))
    args = p.parse_args(argv)
    configure_threads()
    from mlh_ipi.calculator import MLHCalculator

    atoms = read(args.structure, index=-1)
    forces, t_ef = {}, {}
    for mode in ("consistent", "hellmann_feynman"):
        calc = MLHCalculator(args.model, committee_energy_spread=False, force_mode=mode)
        t0 = time.perf_counter()
        calc.calculate(atoms, properties=["energy", "forces"])
        forces[mode] = calc.results["forces"].copy()
        t_ef[mode] = time.perf_counter() - t0
    f_dft = None
    if args.label:
        from mlh_ipi.data.labelfile import read_label

        lab = read_label(args.label)
        if not np.allclose(lab.positions_a, atoms.positions, atol=1e-6):
            raise ValueError(f"{args.label} is not the structure {args.structure}")
        f_dft = lab.forces_ev_per_a
    rng = np.random.default_rng(args.seed)
    picks = [(int(a), int(x)) for a, x in zip(rng.choice(len(atoms), args.components, replace=len(atoms) < args.components),
                                                rng.integers(0, 3, args.components))]
    rows = []
    print(f"# {args.structure} ({len(atoms)} atoms), model {args.model}, step {args.step} A; E+F "
          f"{t_ef['consistent']:.1f} s consistent, {t_ef['hellmann_feynman']:.1f} s Hellmann-Feynman")
    print("| atom | dir | F consistent | F Hellmann-Feynman | F finite diff | consistent - fd (meV/A) "
          "| HF - fd (meV/A) |" + (" F DFT |" if f_dft is not None else ""))
    print("|---|---|---|---|---|---|---|" + ("---|" if f_dft is not None else ""))
    for a, x in picks:
        e = []
        for sign in (1, -1):
            disp = atoms.copy()
            disp.positions[a, x] += sign * args.step
            e.append(energy_ev(calc, disp))
        f_fd = -(e[0] - e[1]) / (2 * args.step)
        r = {"atom": a, "dir": "xyz"[x], "consistent": float(forces["consistent"][a, x]),
             "hellmann_feynman": float(forces["hellmann_feynman"][a, x]), "fd": float(f_fd),
             "diff_mev_per_a": float((forces["consistent"][a, x] - f_fd) * 1000),
             "diff_hf_mev_per_a": float((forces["hellmann_feynman"][a, x] - f_fd) * 1000)}
        if f_dft is not None:
            r["dft"] = float(f_dft[a, x])
        rows.append(r)
        print(f"| {a} | {r['dir']} | {r['consistent']:+.4f} | {r['hellmann_feynman']:+.4f} | {r['fd']:+.4f} "
              f"| {r['diff_mev_per_a']:+.1f} | {r['diff_hf_mev_per_a']:+.1f} |"
              + (f" {r['dft']:+.4f} |" if f_dft is not None else ""), flush=True)
    diffs = np.array([r["diff_mev_per_a"] for r in rows])
    diffs_hf = np.array([r["diff_hf_mev_per_a"] for r in rows])
    mags = np.abs([r["fd"] for r in rows]) * 1000
    summary = {"structure": str(args.structure), "atoms": len(atoms), "model": str(args.model),
               "step_a": args.step, "seconds_e_f": t_ef,
               "mean_abs_diff_mev_per_a": float(np.abs(diffs).mean()),
               "max_abs_diff_mev_per_a": float(np.abs(diffs).max()),
               "mean_abs_diff_hf_mev_per_a": float(np.abs(diffs_hf).mean()),
               "max_abs_diff_hf_mev_per_a": float(np.abs(diffs_hf).max()),
               "mean_abs_force_mev_per_a": float(mags.mean()), "rows": rows}
    if f_dft is not None:
        for key in ("consistent", "hellmann_feynman", "fd"):
            summary[f"mean_abs_vs_dft_{key}_mev_per_a"] = float(
                np.mean([abs(r[key] - r["dft"]) for r in rows]) * 1000)
        summary["mae_all_components_vs_dft_mev_per_a"] = {
            mode: float(np.abs(forces[mode] - f_dft).mean() * 1000) for mode in forces}
    from mlh_ipi.atomic_io import write_json

    write_json(args.out, summary)
    print(f"\nmean |F_consistent - F_fd| = {summary['mean_abs_diff_mev_per_a']:.1f} meV/A "
          f"(max {summary['max_abs_diff_mev_per_a']:.1f}); mean |F_HF - F_fd| = "
          f"{summary['mean_abs_diff_hf_mev_per_a']:.1f} meV/A (max {summary['max_abs_diff_hf_mev_per_a']:.1f}); "
          f"mean |F| = {summary['mean_abs_force_mev_per_a']:.0f} meV/A")
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}))


if __name__ == "__main__":
    main()
