"""Is the on-site Hamiltonian error long-range electrostatics? Per-atom on-site shifts vs the Madelung potential.

``benchmarks/h_error_breakdown.py`` shows the on-site blocks carrying ~20 % of the
H error, with an MAE that doubles from the 48-atom test cells to the 2x cells.
An on-site level feels the electrostatic potential of every charge in the cell,
and a message-passing model with a finite receptive field sees only part of it.
This script tests that reading, per atom i of each label:

* ``shift_err_i``: the mean of the diagonal of the on-site block of
  H_MLH - H_DFT (meV), after removing the best uniform shift c S of the whole
  error (a constant potential offset, physically empty);
* ``shift_dft_i``: the same mean of the DFT on-site diagonal (eV): the atom's level;
* ``-V_i``: the electrostatic energy of an electron at atom i (eV) from the DFT
  Mulliken point charges of all other atoms and their images, by Wolf's damped
  and shifted Coulomb sum (alpha = 0.2 1/Angstrom, cutoff 15 Angstrom; the
  self term and the neutralising shift included), a standard stand-in for Ewald
  sums at this precision.

Reported per element and label set: the correlation of ``shift_dft`` with
``-V`` (how much of the DFT on-site level variation is electrostatic) and of
``shift_err`` with ``-V`` (whether the model's error follows it), each after
removing the per-element mean, with the least-squares slope.

Usage::

    python benchmarks/onsite_electrostatics.py MODEL --sets test48=DIR test96p=DIR [--out DIR]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from scipy.special import erfc

from mlh_ipi.threads import configure_threads

log = logging.getLogger("onsite_electrostatics")
COULOMB_EV_A = 14.399645  # e^2 / (4 pi eps0) in eV Angstrom
ALPHA, R_CUT = 0.2, 15.0  # 1/Angstrom, Angstrom


def wolf_potential_energy(positions_a: np.ndarray, cell_a: np.ndarray, charges: np.ndarray) -> np.ndarray:
    """-V_i (eV): energy of an electron at each atom in the field of the other point charges (e)."""
    from ase.neighborlist import neighbor_list
    from ase import Atoms

    at = Atoms(numbers=np.ones(len(charges)), positions=positions_a, cell=cell_a, pbc=True)
    i, j, d = neighbor_list("ijd", at, R_CUT)
    shifted = erfc(ALPHA * d) / d - erfc(ALPHA * R_CUT) / R_CUT
    v = np.zeros(len(charges))
    np.add.at(v, i, charges[j] * shifted)
    v -= (erfc(ALPHA * R_CUT) / (2 * R_CUT) + ALPHA / np.sqrt(np.pi)) * charges
    return -COULOMB_EV_A * v


def per_atom(model, path: Path) -> dict:
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.dft.cell import build_cell
    from mlh_ipi.electronic.compare import MEV, uniform_shift

    lab = read_label(path)
    model.check(lab.layout.restricted_to(set(lab.symbols)), lab.settings)
    h = model.predict_gamma(model.graph(lab.symbols, lab.positions_a, lab.cell_a))
    err = h - lab.hamiltonian_ha
    err = err - uniform_shift(err, lab.overlap) * lab.overlap
    off = lab.atom_offsets
    ds = np.diag(lab.density_matrix @ lab.overlap)
    z = build_cell(lab.atoms(), lab.settings).atom_charges()
    q = np.array([z[k] - ds[off[k]:off[k + 1]].sum() for k in range(lab.natoms)])
    return {"symbols": list(lab.symbols),
            "shift_err_mev": [float(np.diag(err[off[k]:off[k + 1], off[k]:off[k + 1]]).mean() * MEV)
                              for k in range(lab.natoms)],
            "shift_dft_ev": [float(np.diag(lab.hamiltonian_ha[off[k]:off[k + 1], off[k]:off[k + 1]]).mean()
                                   * MEV / 1000) for k in range(lab.natoms)],
            "mulliken_charge": q.tolist(),
            "minus_v_ev": wolf_potential_energy(lab.positions_a, lab.cell_a, q).tolist()}


def correlations(rows: list[dict]) -> dict:
    """Per element: Pearson r and slope of shift_dft and shift_err against -V, per-label means removed."""
    out = {}
    for el in sorted({s for r in rows for s in r["symbols"]}):
        x, y_dft, y_err = [], [], []
        for r in rows:  # centre within each label: the absolute zero of each cell's potential is arbitrary
            m = np.array(r["symbols"]) == el
            for arr, src in ((x, "minus_v_ev"), (y_dft, "shift_dft_ev"), (y_err, "shift_err_mev")):
                vals = np.asarray(r[src])[m]
                arr.extend(vals - vals.mean())
        x, y_dft, y_err = map(np.asarray, (x, y_dft, y_err))

        def fit(y):
            r = float(np.corrcoef(x, y)[0, 1])
            return r, float(np.dot(x, y) / np.dot(x, x))

        r_d, s_d = fit(y_dft)
        r_e, s_e = fit(y_err)
        out[el] = {"atoms": int(x.size), "std_minus_v_ev": float(x.std()), "std_shift_dft_ev": float(y_dft.std()),
                   "r_dft": r_d, "slope_dft": s_d, "std_shift_err_mev": float(y_err.std()),
                   "r_err": r_e, "slope_err_mev_per_ev": s_e}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path)
    p.add_argument("--sets", nargs="+", required=True, help="NAME=label-folder")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/onsite_electrostatics"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    configure_threads(args.threads)
    from mlh_ipi.atomic_io import write_json, write_text
    from mlh_ipi.data.labelfile import collect_label_files
    from mlh_ipi.model.predictor import HamiltonianPredictor

    model = HamiltonianPredictor.load(args.model)
    results, lines = {}, [f"# On-site shifts vs the Madelung potential: `{args.model}`", "",
                          "| set | element | atoms | std −V (eV) | std DFT on-site (eV) | r(DFT, −V) | slope | "
                          "std on-site error (meV) | r(error, −V) | slope (meV/eV) |",
                          "|---|---|---|---|---|---|---|---|---|---|"]
    for spec in args.sets:
        name, _, folder = spec.partition("=")
        rows = []
        for f in collect_label_files([folder]):
            rows.append(per_atom(model, f))
            log.info("%s %s done", name, f.name)
        corr = correlations(rows)
        results[name] = {"per_label": rows, "correlations": corr}
        for el, c in corr.items():
            lines.append(f"| {name} | {el} | {c['atoms']} | {c['std_minus_v_ev']:.3f} | {c['std_shift_dft_ev']:.3f} | "
                         f"{c['r_dft']:+.2f} | {c['slope_dft']:+.2f} | {c['std_shift_err_mev']:.1f} | "
                         f"{c['r_err']:+.2f} | {c['slope_err_mev_per_ev']:+.1f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "onsite_electrostatics.json", {"model": str(args.model), "alpha_per_a": ALPHA,
                                                         "cutoff_a": R_CUT, "results": results})
    write_text(args.out / "onsite_electrostatics.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
