"""Is there a noise floor in the labels' H? Rigid translation against the real-space grid.

A rigid translation of a periodic cell changes nothing physical, so H^Gamma must not change. On
PySCF's multigrid the potential is sampled on a fixed real-space mesh, so a shift by a fraction of
the mesh spacing moves the atoms relative to the grid points (the egg-box effect) and changes the
integrals a little. That change is label noise that no equivariant model can fit: if it were of the
order of the models' H MAE (~2 meV on a-SiO2, BENCHMARKS.md §4h–4i), the issue's 1 meV target would
be out of reach for reasons in the labels.

For each label and each shift ``f`` (fraction of one mesh step, along a fixed generic direction):

* ``H_0`` (Harris: h_core + V_Hxc of the superposed atoms; one potential build) at the original and
  the shifted positions, same settings;
* with ``--scf``: the converged Kohn-Sham matrix at both positions, each SCF started from the
  label's density matrix with the label's settings. This includes the density's response.

Printed: MAE over all nao^2 elements of H^Gamma (the issue's metric), MAE of the diagonal, and the
largest element change, in meV; and, for scale, the MAE of H_DFT - H_0 (what the Harris model learns).

Usage::

    python benchmarks/grid_translation_h.py LABEL.npz [...] [--shifts 0.25 0.5] [--scf] [--out DIR]
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from mlh_ipi.threads import configure_threads
from mlh_ipi.units import HARTREE

DIRECTION = np.array([1.0, 0.7, 0.4])  # generic: not along a mesh axis or a diagonal


def shift_vector(atoms: Atoms, mesh, fraction: float) -> np.ndarray:
    """``fraction`` of one mesh step along DIRECTION (per lattice vector), in Å."""
    step = np.asarray(atoms.cell) / np.asarray(mesh)[:, None]  # one mesh step along each lattice vector
    return fraction * DIRECTION @ step


def shifted(atoms: Atoms, mesh, fraction: float) -> Atoms:
    """``atoms`` rigidly translated by :func:`shift_vector`, wrapped into the cell."""
    out = atoms.copy()
    out.positions += shift_vector(atoms, mesh, fraction)
    out.wrap()
    return out


def compare(a: np.ndarray, b: np.ndarray) -> dict:
    """Element statistics of a - b (Hartree in), in meV."""
    d = (np.asarray(a) - np.asarray(b)) * HARTREE * 1e3
    return {"mae_mev": float(np.abs(d).mean()), "diag_mae_mev": float(np.abs(np.diag(d)).mean()),
            "max_mev": float(np.abs(d).max())}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("labels", nargs="+")
    p.add_argument("--shifts", nargs="+", type=float, default=[0.25, 0.5],
                   help="translations as fractions of one mesh step")
    p.add_argument("--scf", action="store_true", help="also compare converged SCF Kohn-Sham matrices")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/grid_translation_h")
    args = p.parse_args(argv)
    configure_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.dft.harris import HarrisBaseline
    from mlh_ipi.dft.scf import run_scf

    rows = []
    for path in args.labels:
        lab = read_label(path)
        atoms = Atoms(lab.symbols, positions=lab.positions_a, cell=lab.cell_a, pbc=True)
        ref = HarrisBaseline(atoms, lab.settings)
        mesh = [int(m) for m in ref.mf.cell.mesh]
        h0_ref = ref.hamiltonian_ha()
        scale = compare(lab.hamiltonian_ha, h0_ref)["mae_mev"]
        ks_ref = None
        if args.scf:
            ks_ref = run_scf(atoms, lab.settings, dm0=lab.density_matrix).fock
        for f in args.shifts:
            moved = shifted(atoms, mesh, f)
            t0 = time.perf_counter()
            row = {"label": str(path), "atoms": len(atoms), "mesh": mesh, "shift_steps": f,
                   "shift_a": float(np.linalg.norm(shift_vector(atoms, mesh, f))),
                   "h_minus_h0_mae_mev": scale,
                   "h0": compare(HarrisBaseline(moved, lab.settings).hamiltonian_ha(), h0_ref)}
            if args.scf:
                row["scf"] = compare(run_scf(moved, lab.settings, dm0=lab.density_matrix).fock, ks_ref)
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            logging.info("%s shift %.2f: %s", path, f, row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from mlh_ipi.atomic_io import write_json
    write_json(out / "results.json", {"date": time.strftime("%Y-%m-%d"), "rows": rows})

    print("| label | atoms | mesh | shift (mesh steps / Å) | H_0: MAE / diag MAE / max (meV) "
          "| SCF H: MAE / diag MAE / max (meV) | H_DFT − H_0 MAE (meV) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        scf = r.get("scf")
        scf_txt = (f"{scf['mae_mev']:.4f} / {scf['diag_mae_mev']:.3f} / {scf['max_mev']:.3f}"
                   if scf else "–")
        print(f"| {Path(r['label']).name} | {r['atoms']} | {'x'.join(map(str, r['mesh']))} "
              f"| {r['shift_steps']:.2f} / {r['shift_a']:.3f} "
              f"| {r['h0']['mae_mev']:.4f} / {r['h0']['diag_mae_mev']:.3f} / {r['h0']['max_mev']:.3f} "
              f"| {scf_txt} | {r['h_minus_h0_mae_mev']:.1f} |")


if __name__ == "__main__":
    main()
