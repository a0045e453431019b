"""How far one non-self-consistent Kohn-Sham step moves the MLH energy towards DFT.

The MLH energy E_KS[D0], D0 = D(H_ML), is variational: its error is
+1/2 k.(L + K).k for an orbital-rotation error k, with L the orbital-energy
Hessian (of order twice the gap) and K the Hartree-xc kernel. The KS matrix at
D0, F0 = F[D0], is built anyway for consistent forces (one potential build).
Two cheap corrections follow from it, compared here on DFT labels:

* **Harris** at D0: E_H = E_KS[D0] + Tr[(D1 - D0) F0], where D1 is the density of
  F0's eigenvectors. Costs one extra diagonalisation. To second order
  E_H - E* = -1/2 k.(K + K L^-1 K).k: the same as one Newton step on E_KS with
  the diagonal Hessian L, which overshoots by the kernel terms.
* **One KS step**: E_KS[D1]. Costs one more potential build (shared with the
  force pass). Its error is +1/2 k.K L^-1 (L + K) L^-1 K.k, smaller than
  E_KS[D0]'s by (K/L)^2 where the kernel is weak against the gap.

Forces: the Hellmann-Feynman/Pulay expression at D1 (the standard KS force at
a density one step from the model's) against the DFT forces; the MLH forces of
the default path (consistent, at D0) are in BENCHMARKS.md section 4b.

Usage::

    python benchmarks/one_step_energy.py [--model examples/sio2_vo/model/best.pt]
        [--sets test48=examples/sio2_vo/data/labels/test48 ...] [--out DIR]

Units: the table is in meV/atom and meV/Angstrom; internals in Hartree/Bohr.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = [f"test48={ROOT}/examples/sio2_vo/data/labels/test48",
                f"test96p={ROOT}/examples/sio2_vo/data/labels/test96p"]


def one_step_energies(predictor, lab) -> dict:
    """E_KS[D0], Harris at D0, E_KS[D1] (eV) and Hellmann-Feynman forces at D1 (eV/Angstrom)."""
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.functional import KohnShamFunctional
    from mlh_ipi.energy.occupations import occupations
    from mlh_ipi.units import HARTREE, HARTREE_PER_BOHR

    atoms = lab.atoms()
    t0 = time.perf_counter()
    graph = predictor.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array)
    h = predictor.predict_gamma(graph)
    ks = KohnShamFunctional(atoms, predictor.settings)
    e0, c0 = solve(h, ks.overlap)
    occ0 = occupations(e0, ks.nelectron, ks.settings.smearing)
    d0 = density_matrix(c0, occ0.occ)
    energy0, fock0 = ks.energy_and_fock(d0)
    t_zero = time.perf_counter() - t0
    e1, c1 = solve(0.5 * (fock0 + fock0.T), ks.overlap)
    occ1 = occupations(e1, ks.nelectron, ks.settings.smearing)
    d1 = density_matrix(c1, occ1.occ)
    harris = energy0 + float(np.einsum("ij,ji->", d1 - d0, fock0))
    t_harris = time.perf_counter() - t0
    energy1, grad1 = ks.energy_and_gradient(e1, c1, occ1.occ, d1)
    t_one = time.perf_counter() - t0
    return {"e0_ev": energy0 * HARTREE, "harris_ev": harris * HARTREE, "e1_ev": energy1 * HARTREE,
            "f1_ev_per_a": -grad1 * HARTREE_PER_BOHR,
            "gap0_ev": _gap(e0, occ0.occ) * HARTREE, "gap1_ev": _gap(e1, occ1.occ) * HARTREE,
            "t_zero_s": t_zero, "t_harris_s": t_harris, "t_one_step_s": t_one}


def _gap(e, occ) -> float:
    nocc = int(np.count_nonzero(occ > 1e-8))
    return float(e[nocc] - e[nocc - 1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "examples/sio2_vo/model/best.pt"))
    p.add_argument("--sets", nargs="+", default=DEFAULT_SETS, help="NAME=label-folder")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/one_step_energy")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    from mlh_ipi.atomic_io import atomic_path
    from mlh_ipi.data.labelfile import label_files, read_label
    from mlh_ipi.model.predictor import HamiltonianPredictor

    predictor = HamiltonianPredictor.load(args.model)
    rows = []
    for item in args.sets:
        name, _, folder = item.partition("=")
        for path in label_files(folder):
            lab = read_label(path)
            r = one_step_energies(predictor, lab)
            n = lab.natoms
            df = (r.pop("f1_ev_per_a") - lab.forces_ev_per_a) * 1000
            row = {"set": name, "label": path.name, "atoms": n, "kind": lab.info.get("kind", ""),
                   "dE_zero_mev_per_atom": (r["e0_ev"] - lab.energy_ev) * 1000 / n,
                   "dE_harris_mev_per_atom": (r["harris_ev"] - lab.energy_ev) * 1000 / n,
                   "dE_one_step_mev_per_atom": (r["e1_ev"] - lab.energy_ev) * 1000 / n,
                   "f_one_step_mae_mev_per_a": float(np.abs(df).mean()),
                   "gap_zero_ev": r["gap0_ev"], "gap_one_step_ev": r["gap1_ev"],
                   "t_zero_s": r["t_zero_s"], "t_harris_s": r["t_harris_s"], "t_one_step_s": r["t_one_step_s"]}
            rows.append(row)
            print(f"{name} {path.name} ({n} atoms): dE zero {row['dE_zero_mev_per_atom']:+.3f}, "
                  f"Harris {row['dE_harris_mev_per_atom']:+.3f}, one step {row['dE_one_step_mev_per_atom']:+.3f} "
                  f"meV/atom; F(D1) MAE {row['f_one_step_mae_mev_per_a']:.1f} meV/A; "
                  f"{row['t_zero_s']:.0f}/{row['t_one_step_s']:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "rows.json") as tmp:
        Path(tmp).write_text(json.dumps(rows, indent=1))
    print("\n| set | structures | E_KS[D0] mean dE | Harris mean dE | E_KS[D1] mean dE | "
          "E_KS[D1] mean abs dE | F(D1) MAE (meV/A) | s: D0 / D1 |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        sel = [r for r in rows if r["set"] == name]
        m = {k: np.mean([r[k] for r in sel]) for k in sel[0] if isinstance(sel[0][k], float)}
        abs1 = np.mean([abs(r["dE_one_step_mev_per_atom"]) for r in sel])
        print(f"| {name} | {len(sel)} | {m['dE_zero_mev_per_atom']:+.2f} | {m['dE_harris_mev_per_atom']:+.2f} | "
              f"{m['dE_one_step_mev_per_atom']:+.2f} | {abs1:.2f} | {m['f_one_step_mae_mev_per_a']:.1f} | "
              f"{m['t_zero_s']:.0f} / {m['t_one_step_s']:.0f} |")
    _vacancy_table(rows)


def _vacancy_table(rows) -> None:
    """Error of E(V_O) - E(host) per vacancy cell (meV), for each energy."""
    print("\n| set | energy | E(V_O) - E(host) error per cell (meV) | MAE (meV) |")
    print("|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        sel = [r for r in rows if r["set"] == name]
        hosts = [r for r in sel if r["kind"] == "host"]
        if len(hosts) != 1:
            continue
        host = hosts[0]
        for key, label in (("zero", "E_KS[D0]"), ("harris", "Harris"), ("one_step", "E_KS[D1]")):
            col = f"dE_{key}_mev_per_atom"
            errs = [r[col] * r["atoms"] - host[col] * host["atoms"] for r in sel if r is not host]
            print(f"| {name} | {label} | {', '.join(f'{e:+.0f}' for e in errs)} | {np.mean(np.abs(errs)):.1f} |")


if __name__ == "__main__":
    main()
