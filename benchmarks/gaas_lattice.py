"""E(a) of the 64-atom pristine GaAs cube with the GaAs label settings: a0 and the cost of one label.

Settings: PBE, ``pseudo="gth-pbe,Ga=gth-pbe-q3"``, ``basis="gth-szv"``, 80 Ha, Γ point,
Fermi-Dirac 0.1 eV (those of ``examples/al_mace/gaas64_q3.toml``). Prints per lattice
constant the energy (eV), SCF and force wall time (s), SCF cycles, and the parabola
minimum a0 (Å)::

    OMP_NUM_THREADS=1 python benchmarks/gaas_lattice.py --a 5.60 5.70 5.80
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.structures.gaas import gaas_supercell
from mlh_ipi.threads import configure_threads


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--a", type=float, nargs="+", default=[5.60, 5.70, 5.80], help="Å")
    p.add_argument("--ke-cutoff", type=float, default=80.0, help="Hartree")
    args = p.parse_args(argv)
    configure_threads(1)
    s = DFTSettings(ke_cutoff=args.ke_cutoff, basis="gth-szv", pseudo="gth-pbe,Ga=gth-pbe-q3", smearing=0.1)
    print("| a (Å) | E (eV) | t_scf (s) | cycles | t_forces (s) | max\\|F\\| (meV/Å) |\n|---|---|---|---|---|---|")
    energies = []
    for a in args.a:
        t0 = time.perf_counter()
        res = run_scf(gaas_supercell(64, a=a), s)
        t_scf = time.perf_counter() - t0
        t0 = time.perf_counter()
        f = res.forces_ev_per_a()
        t_f = time.perf_counter() - t0
        energies.append(res.energy_ev)
        print(f"| {a:.3f} | {res.energy_ev:.4f} | {t_scf:.0f} | {res.cycles} | {t_f:.0f} | "
              f"{np.abs(f).max() * 1000:.2f} |", flush=True)
    if len(args.a) >= 3:
        c = np.polyfit(args.a, energies, 2)
        print(f"a0 (parabola through the points) = {-c[1] / (2 * c[0]):.3f} Å")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
