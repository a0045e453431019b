"""SCF cycles and wall time from the default guess vs from the MLH density (mlh_ipi.density_guess).

For each label file: the SCF of its structure with the label's DFT settings, once
from PySCF's default initial guess (superposed atomic densities, what a fresh
label uses) and once from the density of the model's predicted H. Prints a table
(cycles, SCF wall, guess wall, energy difference of the two converged SCFs) and
writes it to ``--out`` (``scf_guess.json``, ``scf_guess.md``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/scf_guess.py MODEL.pt LABEL.label.npz [...] --out DIR
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="Hamiltonian model checkpoint (best.pt)")
    p.add_argument("labels", nargs="+", help="label files whose structures are recomputed")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    from mlh_ipi.threads import configure_threads

    configure_threads(args.threads)
    from mlh_ipi.atomic_io import write_json, write_text
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.density_guess import mlh_density_guess
    from mlh_ipi.dft.scf import run_scf
    from mlh_ipi.units import HARTREE

    guess = mlh_density_guess(args.model)
    rows = []
    for path in args.labels:
        lab = read_label(path)
        atoms, settings = lab.atoms(), lab.settings
        t0 = time.perf_counter()
        plain = run_scf(atoms, settings)
        t_plain = time.perf_counter() - t0
        t0 = time.perf_counter()
        dm0 = guess(atoms)
        t_guess = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm = run_scf(atoms, settings, dm0=dm0)
        t_warm = time.perf_counter() - t0
        rows.append({"label": str(path), "atoms": len(atoms),
                     "cycles_default": plain.cycles, "cycles_mlh": warm.cycles,
                     "scf_s_default": t_plain, "scf_s_mlh": t_warm, "guess_s": t_guess,
                     "delta_e_mev": (warm.energy_ha - plain.energy_ha) * HARTREE * 1e3})
        print(rows[-1], flush=True)
    lines = [f"model `{args.model}`", "",
             "| structure | atoms | cycles, default guess | cycles, MLH guess | SCF s, default | "
             "MLH guess s + SCF s | (guess + SCF) / default | ΔE of the converged SCFs (meV) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r['label']).name} | {r['atoms']} | {r['cycles_default']} | {r['cycles_mlh']} | "
                     f"{r['scf_s_default']:.0f} | {r['guess_s']:.0f} + {r['scf_s_mlh']:.0f} | "
                     f"{(r['guess_s'] + r['scf_s_mlh']) / r['scf_s_default']:.2f} | {r['delta_e_mev']:+.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "scf_guess.json", {"model": args.model, "rows": rows})
    write_text(args.out / "scf_guess.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
