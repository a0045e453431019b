"""The force term a Harris-baseline MLH needs, Tr[G dH_0/dR], from two fixed-density KS gradients.

A model that learns ΔH = H_DFT − H_0 on top of H_0 = h_core + V_Hxc[D_atoms]
(``harris_baseline.py``, BENCHMARKS.md §4c–4d) serves consistent forces only if the
response term Tr[G dH/dR] (``mlh_ipi.energy.response``) includes dH_0/dR. No new
integral code is needed: for fixed AO matrices D_atoms (the minao density, which
moves with the atoms) and G,

    d/dR Tr[G H_0(R)] = d/de [ dE_KS[D_atoms + e G]/dR |_D ]  at e = 0,

because Tr[G h] and ∫ρ_G v_Hxc[ρ_atoms] are the e-derivatives of Tr[D h] and
E_Hxc[ρ_D] at D = D_atoms. PySCF's nuclear gradient at a fixed density matrix
(Pulay term off) therefore gives the term by a central difference in e: two
gradient passes (``mlh_ipi.dft.harris.HarrisBaseline.vjp_ha_bohr``). This script checks it against central finite differences of
Tr[G H_0(R)] in the atomic positions and times it.

Usage::

    python benchmarks/harris_force_term.py [LABEL.npz] [--components 3] [--eps 1e-3]

Default: the first held-out 48-atom a-SiO2 cell at its own DFT settings (500 Ha).
Units: Hartree/Bohr in the table.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "examples/sio2_vo/data/labels/test48/000001.label.npz"


def harris_h0(atoms, settings) -> np.ndarray:
    from mlh_ipi.dft.harris import HarrisBaseline

    return HarrisBaseline(atoms, settings).hamiltonian_ha()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("label", nargs="?", default=str(DEFAULT))
    p.add_argument("--components", type=int, default=3, help="Cartesian components checked by finite differences")
    p.add_argument("--eps", type=float, default=1e-3, help="density step, relative to max |G|")
    p.add_argument("--step", type=float, default=2e-3, help="finite-difference step in Angstrom")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.units import BOHR

    lab = read_label(args.label)
    atoms = lab.atoms()
    from mlh_ipi.dft.harris import HarrisBaseline

    t0 = time.perf_counter()
    base = HarrisBaseline(atoms, lab.settings)
    h0 = base.hamiltonian_ha()
    t_h0 = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    g = rng.normal(size=h0.shape) * 0.05
    g = 0.5 * (g + g.T)  # a symmetric weight matrix like the response G
    t0 = time.perf_counter()
    vjp = base.vjp_ha_bohr(g, step=args.eps)
    t_vjp = time.perf_counter() - t0
    print(f"{Path(args.label).name}: {lab.natoms} atoms, {h0.shape[0]} AOs; H_0 {t_h0:.1f} s, "
          f"Tr[G dH_0/dR] for all atoms {t_vjp:.1f} s (two gradient passes)\n")
    print("| atom | component | finite difference (Ha/Bohr) | e-difference (Ha/Bohr) | difference |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for k in range(args.components):
        atom, comp = divmod(k * 7 + 2, 3)  # spread over atoms and directions
        atom %= lab.natoms
        vals = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[atom, comp] += sign * args.step
            vals.append(float(np.einsum("ij,ij->", g, harris_h0(moved, lab.settings))))
        fd = (vals[0] - vals[1]) / (2 * args.step) * BOHR
        worst = max(worst, abs(fd - vjp[atom, comp]))
        print(f"| {atom} | {'xyz'[comp]} | {fd:+.8f} | {vjp[atom, comp]:+.8f} | {fd - vjp[atom, comp]:+.1e} |",
              flush=True)
    print(f"\nmax |difference| {worst:.1e} Ha/Bohr = {worst * 51422.1:.3f} meV/A")


if __name__ == "__main__":
    main()
