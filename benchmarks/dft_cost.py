"""DFT reference cost: SCF, one potential build and analytic forces for a-SiO2 hosts.

The baseline the MLH has to beat (foundation issue): for melt-quenched a-SiO2
hosts of 24, 72 and 144 atoms (2.20 g/cm^3, every Si fourfold; the same hosts
as ``evaluator_speed.py``; 144 is the 72-atom host repeated 2x1x1), with the default ``DFTSettings`` (PBE, GTH,
SZV-MOLOPT-SR, 500 Ha, Gamma, multigrid), it measures

* SCF wall time and cycle count (MINAO guess, ``conv_tol`` 1e-9 Ha),
* one ``get_veff`` (Coulomb + xc potential build at the converged density:
  the unit cost of one SCF cycle and of every non-SCF energy evaluation),
* the analytic nuclear gradient (forces).

Each size is cached in ``--out`` (JSON, written atomically) as soon as it
finishes, so an interrupted run resumes with the next size. Prints a markdown
table; times in seconds.

Usage::

    python benchmarks/dft_cost.py [--sizes 24 72 144] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluator_speed import SEEDS, host, host_id  # noqa: E402  (same hosts, same builder)

from mlh_ipi.atomic_io import write_json  # noqa: E402
from mlh_ipi.threads import configure_threads  # noqa: E402


def measure(n_atoms: int, settings) -> dict:
    from mlh_ipi.dft.scf import run_scf

    atoms = host(n_atoms)
    scf = run_scf(atoms, settings)
    t0 = time.perf_counter()
    scf.mf.get_veff(scf.cell, scf.density_matrix)
    t_veff = time.perf_counter() - t0
    t0 = time.perf_counter()
    scf.gradient_ha_bohr()
    t_grad = time.perf_counter() - t0
    return {"atoms": n_atoms, "host": host_id(n_atoms), "nao": scf.cell.nao_nr(),
            "mesh": [int(m) for m in scf.cell.mesh], "scf_s": scf.wall_s, "cycles": scf.cycles,
            "get_veff_s": t_veff, "forces_s": t_grad, "energy_ha": scf.energy_ha}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[24, 72, 144], choices=sorted(SEEDS))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("runs/dft_cost.json"))
    args = p.parse_args(argv)
    threads = configure_threads(args.threads)
    from mlh_ipi.dft.settings import DFTSettings

    settings = DFTSettings()
    cached = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    rows = {r["atoms"]: r for r in cached if r.get("host", f"s{r.get('seed')}") == host_id(r["atoms"])}
    for n in args.sizes:
        if n not in rows:
            rows[n] = measure(n, settings) | {"threads": threads, "machine": platform.node(),
                                              "date": time.strftime("%Y-%m-%d")}
            write_json(args.out, {"settings": settings.to_dict(), "rows": sorted(rows.values(), key=lambda r: r["atoms"])})
    print(f"# a-SiO2 hosts, {settings.basis}, GTH-PBE, ke_cutoff={settings.ke_cutoff:g} Ha, Gamma, multigrid\n")
    print("| atoms | host | AOs | mesh | threads | SCF (s) | cycles | s/cycle | one get_veff (s) | forces (s) | SCF+F (s) | date |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        r = rows[n]
        print(f"| {n} | {r.get('host', 's' + str(r.get('seed')))} | {r['nao']} | {'x'.join(map(str, r['mesh']))} | {r['threads']} | {r['scf_s']:.1f} | "
              f"{r['cycles']} | {r['scf_s'] / r['cycles']:.1f} | {r['get_veff_s']:.1f} | {r['forces_s']:.1f} | "
              f"{r['scf_s'] + r['forces_s']:.1f} | {r['date']} |")


if __name__ == "__main__":
    main()
