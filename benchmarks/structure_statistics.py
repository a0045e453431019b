"""Local-structure statistics of the a-SiO2 label sets: are the test cells like the training cells?

Per label set (the first ``--max`` labels of each folder): atoms per cell, mass density
(g/cm^3), mean and spread of the Si-O bond length (pairs < 2 Angstrom) and the fraction of
Si without exactly four O neighbours. Prints a markdown table.

Usage::

    python benchmarks/structure_statistics.py [--sets train=DIR test48=DIR ...] [--max 12]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "examples" / "sio2_vo" / "data" / "labels"
DEFAULT_SETS = [f"{n}={LABELS / n}" for n in ("train", "test48", "test96p", "test96", "test96f")]
AMU_PER_A3_TO_G_PER_CM3 = 1.66053907


def cell_statistics(path: Path) -> dict:
    """Density, Si-O bond statistics and miscoordinated-Si fraction of one label file
    (read without PySCF: positions, cell and symbols only)."""
    from ase.neighborlist import neighbor_list

    from mlh_ipi.data.labelfile import read_label_geometry

    atoms = read_label_geometry(path)
    symbols = atoms.get_chemical_symbols()
    i, j, d = neighbor_list("ijd", atoms, 2.0)
    sym = np.array(symbols)
    si_o = (sym[i] == "Si") & (sym[j] == "O")
    cn = np.bincount(i[si_o], minlength=len(atoms))[sym == "Si"]
    return {"atoms": len(atoms),
            "density": atoms.get_masses().sum() / atoms.get_volume() * AMU_PER_A3_TO_G_PER_CM3,
            "d_sio": d[si_o].mean(), "d_sio_std": d[si_o].std(), "miscoordinated_si": float(np.mean(cn != 4))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", nargs="+", default=DEFAULT_SETS, help="NAME=label folder")
    p.add_argument("--max", type=int, default=12, help="labels read per set")
    args = p.parse_args(argv)
    print("| set | labels read | atoms | density (g/cm³) | Si–O (Å) | Si–O spread (Å) | Si with CN ≠ 4 |")
    print("|---|---|---|---|---|---|---|")
    for item in args.sets:
        name, _, folder = item.partition("=")
        files = sorted(Path(folder).glob("*.label.npz"))[:args.max]
        if not files:
            raise SystemExit(f"{name}: no .label.npz in {folder}")
        rows = [cell_statistics(f) for f in files]
        mean = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        sizes = sorted({r["atoms"] for r in rows})
        print(f"| {name} | {len(rows)} | {'/'.join(map(str, sizes))} | {mean['density']:.3f} | "
              f"{mean['d_sio']:.4f} | {mean['d_sio_std']:.4f} | {100 * mean['miscoordinated_si']:.1f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
