"""MLH total energies and forces vs DFT on held-out a-SiO2 cells, side by side with MACE on the same labels.

For every label file in the given sets (default: the held-out 48-atom set and
the 2x larger 96-atom set of ``examples/sio2_vo``), computes

* MLH: E_KS[D(H_ML)] and its forces (``MLHCalculator``, no SCF);
* MACE (optional, ``--mace``): energies and forces of a MACE model trained
  with ``mlh-ipi train-mace`` on the **same** training labels;

and reports per set: mean |E - E_DFT| per atom (meV/atom), the mean signed
error per atom (a constant offset cancels in formation energies), force MAE and
RMSE (meV/Å). Writes a CSV with one row per structure and engine and a parity
PNG of the forces. The target (issue 4): MLH <= 1 meV/atom and <= 30 meV/Å at
the training size, <= 1.2 meV/atom on the 2x cells.

Usage::

    python benchmarks/mlh_energy_forces.py --mlh examples/sio2_vo/model/best.pt \\
        [--mace runs/mace_sio2/mace.model] [--sets test48=examples/sio2_vo/data/labels/test48 ...]
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETS = [f"test48={ROOT}/examples/sio2_vo/data/labels/test48",
                f"test96={ROOT}/examples/sio2_vo/data/labels/test96"]


def engines(args):
    out = {}
    if args.mlh:
        from mlh_ipi.calculator import MLHCalculator

        out["MLH"] = MLHCalculator(args.mlh, committee_energy_spread=False)
    if args.mace:
        from mlh_ipi.forcefield.committee import load_mace

        out["MACE"] = load_mace(args.mace)
    if not out:
        raise SystemExit("give --mlh and/or --mace")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mlh", help="MLH checkpoint or committee folder")
    p.add_argument("--mace", nargs="*", help="MACE model file(s); several = committee mean")
    p.add_argument("--sets", nargs="+", default=DEFAULT_SETS, help="NAME=label-folder")
    p.add_argument("--out", type=Path, default=Path("runs/mlh_energy_forces"))
    p.add_argument("--from-csv", type=Path, help="only reprint the vacancy-energy table of an errors.csv")
    args = p.parse_args(argv)
    if args.from_csv:
        with open(args.from_csv, newline="") as fh:
            vacancy_energy_table(list(csv.DictReader(fh)))
        return
    configure_threads()
    from mlh_ipi.data.labelfile import label_files, read_label

    calcs = engines(args)
    rows = []
    for item in args.sets:
        name, _, folder = item.partition("=")
        for path in label_files(folder):
            lab = read_label(path)
            for engine, calc in calcs.items():
                atoms = lab.atoms()
                atoms.calc = calc
                t0 = time.perf_counter()
                f = atoms.get_forces()  # first: one evaluation gives both
                e = atoms.get_potential_energy()
                wall = time.perf_counter() - t0
                df = (f - lab.forces_ev_per_a) * 1000
                rows.append({"set": name, "label": path.name, "atoms": lab.natoms, "engine": engine,
                             "kind": lab.info.get("kind", ""),
                             "e_err_mev_per_atom": (e - lab.energy_ev) * 1000 / lab.natoms,
                             "f_mae_mev_per_a": float(np.abs(df).mean()),
                             "f_rmse_mev_per_a": float(np.sqrt((df**2).mean())), "wall_s": wall,
                             "_f": f, "_f_ref": lab.forces_ev_per_a})
                r = rows[-1]
                print(f"{name} {path.name} {engine}: dE {r['e_err_mev_per_atom']:+.3f} meV/atom, "
                      f"F MAE {r['f_mae_mev_per_a']:.1f} meV/A ({wall:.1f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    keys = [k for k in rows[0] if not k.startswith("_")]
    from mlh_ipi.atomic_io import atomic_path

    with atomic_path(args.out / "errors.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        w.writerows([{k: r[k] for k in keys} for r in rows])
    print("\n| set | engine | structures | atoms | mean abs dE (meV/atom) | mean dE (meV/atom) "
          "| F MAE (meV/A) | F RMSE (meV/A) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        for engine in calcs:
            sel = [r for r in rows if r["set"] == name and r["engine"] == engine]
            de = np.array([r["e_err_mev_per_atom"] for r in sel])
            df = np.concatenate([(r["_f"] - r["_f_ref"]).ravel() * 1000 for r in sel])
            print(f"| {name} | {engine} | {len(sel)} | {sorted({r['atoms'] for r in sel})} | "
                  f"{np.abs(de).mean():.3f} | {de.mean():+.3f} | {np.abs(df).mean():.1f} | "
                  f"{np.sqrt((df**2).mean()):.1f} |")
    vacancy_energy_table(rows)
    _parity(rows, calcs, args.out / "forces_parity.png")


def vacancy_energy_table(rows) -> None:
    """Print the error of E(V_O) - E(host) per V_O cell (meV), per set and engine.

    At fixed mu_O this is the error of the (unrelaxed) formation energy: the part
    of each engine's total-energy error that does not cancel between the defect
    cell and the host it was cut from. Rows need ``kind`` ("host" or "V_O...").
    Works on the rows of ``errors.csv`` too (``--from-csv``).
    """
    print("\n| set | engine | V_O cells | E(V_O)-E(host) error, each (meV) | MAE (meV) |")
    print("|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        for engine in dict.fromkeys(r["engine"] for r in rows):
            sel = [r for r in rows if r["set"] == name and r["engine"] == engine]
            hosts = [r for r in sel if r["kind"] == "host"]
            if len(hosts) != 1:
                continue
            e_host = float(hosts[0]["e_err_mev_per_atom"]) * int(hosts[0]["atoms"])
            errs = [float(r["e_err_mev_per_atom"]) * int(r["atoms"]) - e_host
                    for r in sel if str(r["kind"]).startswith("V_O")]
            if errs:
                print(f"| {name} | {engine} | {len(errs)} | {', '.join(f'{e:+.0f}' for e in errs)} | "
                      f"{np.mean(np.abs(errs)):.1f} |")


def _parity(rows, calcs, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlh_ipi.atomic_io import save_figure

    fig, axes = plt.subplots(1, len(calcs), figsize=(4.5 * len(calcs), 4.5), squeeze=False)
    for ax, engine in zip(axes[0], calcs):
        sel = [r for r in rows if r["engine"] == engine]
        ref = np.concatenate([r["_f_ref"].ravel() for r in sel])
        pred = np.concatenate([r["_f"].ravel() for r in sel])
        ax.plot(ref, pred, ".", ms=2)
        lim = [ref.min(), ref.max()]
        ax.plot(lim, lim, "k-", lw=0.8)
        ax.set_title(f"{engine}: force MAE {np.abs(pred - ref).mean() * 1000:.0f} meV/Å")
        ax.set_xlabel("DFT force (eV/Å)")
        ax.set_ylabel(f"{engine} force (eV/Å)")
    fig.tight_layout()
    save_figure(fig, path, dpi=150)


if __name__ == "__main__":
    main()
