"""Force convergence of the DFT backend with the grid cutoff (and multigrid rel_cutoff).

For each (ke_cutoff, rel_cutoff) the SCF energy and analytic forces are computed
once and cached in ``--cache`` (resumable). The table compares every setting
with the highest-cutoff reference:

    max|dF|, MAE|dF| vs reference (meV/A), |sum_i F_i|/N (meV/A), SCF and gradient wall time.

Usage::

    python benchmarks/dft_cutoff.py STRUCTURE.extxyz --cutoffs 150 200 300 400 --rel 20 60 \
        --ref 600 60 --cache runs/cutoff_cache
    python benchmarks/dft_cutoff.py runs/gaas8_rattled.extxyz --basis gth-szv \
        --pseudo "gth-pbe,Ga=gth-pbe-q3" --cutoffs 40 60 80 100 150 200 --ref 300 20 --cache runs/cutoff_gaas8_q3
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from ase.io import read

from mlh_ipi.atomic_io import save_npz
from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.threads import configure_threads


def compute(atoms, ke, rel, cache: Path, base: DFTSettings):
    path = cache / f"ke{ke:g}_rel{rel:g}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    s = base.with_(ke_cutoff=ke, rel_cutoff=rel)
    res = run_scf(atoms, s)
    t0 = time.perf_counter()
    f = res.forces_ev_per_a()
    out = {"energy_ev": np.array(res.energy_ev), "forces": f, "t_scf": np.array(res.wall_s),
           "t_grad": np.array(time.perf_counter() - t0), "cycles": np.array(res.cycles),
           "mesh": np.array(res.cell.mesh)}
    save_npz(path, **out)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structure")
    p.add_argument("--cutoffs", type=float, nargs="+", default=[150, 200, 300, 400])
    p.add_argument("--rel", type=float, nargs="+", default=[20.0])
    p.add_argument("--ref", type=float, nargs=2, default=[600, 20], metavar=("KE", "REL"))
    p.add_argument("--basis", default="gth-szv-molopt-sr")
    p.add_argument("--pseudo", default="gth-pbe", help='family or per element, e.g. "gth-pbe,Ga=gth-pbe-q3"')
    p.add_argument("--cache", type=Path, default=Path("runs/cutoff_cache"))
    p.add_argument("--json", type=Path, help="also write the table as JSON")
    args = p.parse_args(argv)
    configure_threads()
    atoms = read(args.structure)
    cache = args.cache / Path(args.structure).stem
    cache.mkdir(parents=True, exist_ok=True)
    base = DFTSettings(basis=args.basis, pseudo=args.pseudo)
    ref = compute(atoms, *args.ref, cache, base)
    rows = []
    for rel in args.rel:
        for ke in args.cutoffs:
            r = compute(atoms, ke, rel, cache, base)
            df = (r["forces"] - ref["forces"]) * 1000
            rows.append({
                "ke_cutoff_ha": ke, "rel_cutoff_ha": rel, "mesh": "x".join(map(str, r["mesh"])),
                "max_dF_meV_A": float(np.abs(df).max()), "mae_dF_meV_A": float(np.abs(df).mean()),
                "net_force_per_atom_meV_A": float(np.linalg.norm(r["forces"].sum(0)) / len(atoms) * 1000),
                "dE_meV_atom": float((r["energy_ev"] - ref["energy_ev"]) / len(atoms) * 1000),
                "t_scf_s": float(r["t_scf"]), "t_grad_s": float(r["t_grad"]), "cycles": int(r["cycles"]),
            })
    net_ref = np.linalg.norm(ref["forces"].sum(0)) / len(atoms) * 1000
    print(f"# {args.structure}: {len(atoms)} atoms, {base.basis}, {base.pseudo}; reference ke={args.ref[0]:g} Ha "
          f"rel={args.ref[1]:g} Ha (|sum F|/N = {net_ref:.1f} meV/A)")
    hdr = ("ke(Ha)", "rel(Ha)", "mesh", "max|dF|", "MAE|dF|", "|sumF|/N", "dE/atom", "t_scf", "t_grad", "cyc")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in rows:
        print(f"| {r['ke_cutoff_ha']:g} | {r['rel_cutoff_ha']:g} | {r['mesh']} | {r['max_dF_meV_A']:.1f} | "
              f"{r['mae_dF_meV_A']:.1f} | {r['net_force_per_atom_meV_A']:.1f} | {r['dE_meV_atom']:.2f} | "
              f"{r['t_scf_s']:.0f} | {r['t_grad_s']:.0f} | {r['cycles']} |")
    print("(forces in meV/A, energies in meV/atom, times in s)")
    if args.json:
        args.json.write_text(json.dumps({"reference": args.ref, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
