"""Cost of the DFT reference on amorphous SiO2: the baseline the MLH has to beat.

For a-SiO2 cells of 24, 72 and 144 atoms (melt-quenched with the shipped
Vashishta potential, seed 0, 2.20 g/cm^3) this measures with the default
DFTSettings (SZV-MOLOPT-SR, GTH-PBE, multigrid at Gamma):

    SCF wall time and cycle count, analytic-force wall time, one get_veff wall time.

Usage::

    python benchmarks/dft_cost.py [--sizes 24 72 144] [--out runs/dft_cost.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.lammps.melt_quench import melt_quench_sio2
from mlh_ipi.threads import configure_threads


def measure(n_atoms: int, settings: DFTSettings) -> dict:
    atoms = melt_quench_sio2(n_atoms, seed=0)
    res = run_scf(atoms, settings)
    t0 = time.perf_counter()
    res.gradient_ha_bohr()
    t_grad = time.perf_counter() - t0
    dm = res.density_matrix
    t0 = time.perf_counter()
    res.mf.get_veff(res.cell, dm)
    t_veff = time.perf_counter() - t0
    return {"atoms": n_atoms, "nao": res.cell.nao_nr(), "mesh": [int(m) for m in res.cell.mesh],
            "scf_s": res.wall_s, "cycles": res.cycles, "forces_s": t_grad, "get_veff_s": t_veff}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 72, 144])
    p.add_argument("--out", type=Path, default=Path("runs/dft_cost.json"))
    args = p.parse_args(argv)
    threads = configure_threads()
    settings = DFTSettings()
    rows = []
    done = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    for n in args.sizes:
        prev = [r for r in done if r["atoms"] == n]
        rows.append(prev[0] if prev else measure(n, settings))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"settings": settings.to_dict(), "threads": threads,
                                        "machine": platform.node(), "rows": rows}, indent=1))
    print(f"# a-SiO2, {settings.basis}, GTH-PBE, ke_cutoff={settings.ke_cutoff:g} Ha, "
          f"rel_cutoff={settings.rel_cutoff:g} Ha, Gamma, {threads} threads")
    print("| atoms | AOs | mesh | SCF (s) | cycles | forces (s) | get_veff (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['atoms']} | {r['nao']} | {'x'.join(map(str, r['mesh']))} | {r['scf_s']:.0f} | "
              f"{r['cycles']} | {r['forces_s']:.0f} | {r['get_veff_s']:.1f} |")


if __name__ == "__main__":
    main()
