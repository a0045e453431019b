"""Which DFT eigenstates are the band edges and defect levels of GaAs defect cells: occupation vs host count.

For every DFT label (no model involved) of the cells asked for, the states around the Fermi level
with their energy (eV), inverse participation ratio over atoms, and Mulliken weight on the defect's
atoms (the builder's defect atom and first shell, ``mlh_ipi.structures.gaas.defect_neighbourhood``),
and what each picking calls them: ``V``/``C`` (VBM/CBM) and ``L`` (defect level) with band edges from
occupation (closed-shell filling; what ``benchmarks/gaas_md_accuracy.py --level-picking occupation``
scores) and from the host valence-state count (``host_valence_states``, ``--level-picking
host-count``, 1 eV resonance window). Summary per (cell, temperature): the host gap under both.

Prints the tables; writes ``--out``/states.csv (one row per state and label) and summary.md::

    python benchmarks/gaas_band_edges.py --labels benchmarks/results/gaas_md_check/labels \\
        benchmarks/results/gaas_md_check_levels/labels --out benchmarks/results/gaas_md_check/band_edges
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESONANCE_EV = 1.0
SHOWN = 4  # states on each side of the closed-shell Fermi level


def classify(lab, states: int = SHOWN) -> tuple[list[dict], dict]:
    """Per-state rows and the two pickings' gaps (eV) of one label."""
    from mlh_ipi.electronic.defect_levels import atom_weights, find_defect_levels
    from mlh_ipi.electronic.eigen import solve
    from mlh_ipi.structures.gaas import level_picking
    from mlh_ipi.units import HARTREE

    picking = level_picking(lab.info["defect"], lab.symbols, lab.nelectron, RESONANCE_EV)
    defect = picking["defect_atoms"]
    e, c = solve(lab.hamiltonian_ha, lab.overlap)
    offsets = lab.atom_offsets
    nocc = lab.nelectron // 2
    occ = find_defect_levels(e, c, lab.overlap, offsets, lab.nelectron)  # the labels' own info: none, IPR
    count = find_defect_levels(e, c, lab.overlap, offsets, lab.nelectron, **picking)
    lo, hi = nocc - states, nocc + states
    w = atom_weights(c[:, lo:hi], lab.overlap, offsets)
    rows = []
    for k, n in enumerate(range(lo, hi)):
        def mark(lv):
            return "V" if n == lv.vbm_index else "C" if n == lv.cbm_index else "L" if n in lv.state_indices else ""
        rows.append({"state": n, "from_fermi": n - nocc, "energy_ev": float(e[n] * HARTREE),
                     "ipr": float((w[k] ** 2).sum()), "defect_weight": float(w[k, defect].sum()) if defect else 0.0,
                     "occupation_rule": mark(occ), "host_count_rule": mark(count)})
    return rows, {"gap_occupation_ev": occ.gap_ev, "gap_host_count_ev": count.gap_ev}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels", nargs="+", type=Path, required=True, help="label folders or files")
    ap.add_argument("--cells", nargs="+", default=["pristine", "As_i", "As_Ga"])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--quiet", action="store_true", help="summary only, no per-label state tables")
    args = ap.parse_args(argv)

    from mlh_ipi.atomic_io import atomic_path, write_text
    from mlh_ipi.data.labelfile import collect_label_files, read_label

    all_rows, gaps = [], defaultdict(list)
    for path in collect_label_files(args.labels):
        lab = read_label(path)
        kind = lab.info.get("defect")
        if kind not in args.cells:
            continue
        t = float(lab.info.get("temperature_K", float("nan")))
        rows, gap = classify(lab)
        gaps[kind, t].append(gap)
        name = f"{Path(path).parent.parent.name}/{Path(path).parent.name}/{Path(path).name}"
        all_rows += [{"label": name, "kind": kind, "temperature_K": t, **r} for r in rows]
        if not args.quiet:
            print(f"{name}  {kind}  {t:g} K  gap: occupation {gap['gap_occupation_ev']:.3f} eV, "
                  f"host count {gap['gap_host_count_ev']:.3f} eV")
            print("   state  n-nocc  E (eV)    IPR   w(defect)  occ  count")
            for r in rows:
                print(f"   {r['state']:5d}  {r['from_fermi']:+5d}  {r['energy_ev']:7.3f}  {r['ipr']:.3f}   "
                      f"{r['defect_weight']:.2f}      {r['occupation_rule']:3s}  {r['host_count_rule']}")
    lines = ["| cell | T (K) | labels | gap, occupation edges (eV) | gap, host count (eV) |", "|---|---|---|---|---|"]
    for (kind, t), g in sorted(gaps.items()):
        a = [x["gap_occupation_ev"] for x in g]
        b = [x["gap_host_count_ev"] for x in g]
        lines.append(f"| {kind} | {t:g} | {len(g)} | {min(a):.2f}–{max(a):.2f} | {min(b):.2f}–{max(b):.2f} |")
    summary = "\n".join(lines) + "\n"
    print(summary)
    if args.out is not None and all_rows:
        args.out.mkdir(parents=True, exist_ok=True)
        with atomic_path(args.out / "states.csv") as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(all_rows[0]))
            writer.writeheader()
            writer.writerows(all_rows)
        write_text(args.out / "summary.md", summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
