"""How much of the DFT Hamiltonian a non-self-consistent (Harris) baseline already gives.

The question behind it: the MLH underfits at ~6 meV H MAE (BENCHMARKS.md §4: train ≈
val). Would it do better learning the correction ΔH = H_DFT − H_0 to the Kohn-Sham
matrix of the superposition of atomic densities,

    H_0 = h_core + V_Hxc[D_atoms]        (``mlh_ipi.dft.harris``: PySCF's minao density, one potential build)

instead of H_DFT itself? H_0 is exact physics (kinetic energy, pseudopotentials,
Hartree and xc of neutral atoms) and costs one potential build; what is left is
charge transfer and bonding. This script measures, on DFT labels (Γ-point matrices,
all elements, meV):

* mean |H|, mean |ΔH|, and mean |ΔH − c S| with the best uniform shift c removed
  (a constant potential, physically empty), split into on-site (atom-diagonal)
  blocks and off-site blocks;
* the **environment variation** of the on-site blocks: mean |block − mean block of
  that element| over every atom of every label, for H and for ΔH (what a model of
  on-site blocks has to learn beyond a per-element constant);
* with ``--model``: the model's error split the same way, so the two can be compared
  element class by element class;
* the host-like band gap (eV) of H_DFT, H_0 and the model, Γ point, the label's own
  S and electron count (``mlh_ipi.electronic.defect_levels``, in-gap levels set aside);
* the cost of H_0 (one ``get_fock`` at the label's DFT settings).

Usage::

    python benchmarks/harris_baseline.py LABEL.npz [...] [--model examples/sio2_vo/model/best.pt]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

MEV = 27211.386245988  # meV per Hartree


def harris_hamiltonian(lab) -> tuple[np.ndarray, float]:
    """H_0 (Γ, Hartree) at the superposition of atomic densities, and its wall time (s)."""
    from ase import Atoms

    from mlh_ipi.dft.harris import HarrisBaseline

    atoms = Atoms(lab.symbols, positions=lab.positions_a, cell=lab.cell_a, pbc=True)
    t0 = time.perf_counter()
    h0 = HarrisBaseline(atoms, lab.settings).hamiltonian_ha()
    return h0, time.perf_counter() - t0


def onsite_mask(offsets: np.ndarray) -> np.ndarray:
    n = int(offsets[-1])
    mask = np.zeros((n, n), dtype=bool)
    for a in range(len(offsets) - 1):
        mask[offsets[a]:offsets[a + 1], offsets[a]:offsets[a + 1]] = True
    return mask


def split_mae(x: np.ndarray, onsite: np.ndarray) -> tuple[float, float, float]:
    """(all, on-site, off-site) mean |x| in meV."""
    a = np.abs(x) * MEV
    return float(a.mean()), float(a[onsite].mean()), float(a[~onsite].mean())


def band_gap_ev(h: np.ndarray, lab) -> float:
    """Host-like gap (eV) of the Γ matrix ``h`` with the label's overlap and electron count."""
    from mlh_ipi.electronic.defect_levels import find_defect_levels
    from mlh_ipi.electronic.eigen import solve

    e, c = solve(h, lab.overlap)
    return float(find_defect_levels(e, c, lab.overlap, lab.layout.atom_offsets(lab.symbols), lab.nelectron,
                                    defect_atoms=lab.info.get("defect_atoms", lab.info.get("defect_si"))).gap_ev)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labels", nargs="+", type=Path)
    p.add_argument("--model", type=Path, default=None, help="MLH checkpoint: its error split the same way")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = p.parse_args(argv)
    configure_threads(args.threads)
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.electronic.compare import uniform_shift

    model = None
    if args.model is not None:
        from mlh_ipi.model.predictor import HamiltonianPredictor

        model = HamiltonianPredictor.load(args.model)
    rows, blocks_h, blocks_d = [], {}, {}
    for path in args.labels:
        lab = read_label(path)
        h = lab.hamiltonian_ha
        h0, t_h0 = harris_hamiltonian(lab)
        offsets = lab.layout.atom_offsets(lab.symbols)
        on = onsite_mask(offsets)
        d = h - h0
        d_aligned = d - uniform_shift(d, lab.overlap) * lab.overlap
        row = {"label": str(path), "atoms": len(lab.symbols), "h0_s": t_h0,
               "h": split_mae(h, on), "dh": split_mae(d, on), "dh_aligned": split_mae(d_aligned, on),
               "gap_ev": (band_gap_ev(h, lab), band_gap_ev(h0, lab))}
        if model is not None:
            h_model = model.predict_gamma(model.graph(lab.symbols, lab.positions_a, lab.cell_a))
            err = h_model - h
            row["gap_ev"] += (band_gap_ev(h_model, lab),)
            row["model_err"] = split_mae(err, on)
            row["model_err_aligned"] = split_mae(err - uniform_shift(err, lab.overlap) * lab.overlap, on)
        rows.append(row)
        for a, s in enumerate(lab.symbols):
            sl = slice(offsets[a], offsets[a + 1])
            blocks_h.setdefault(s, []).append(h[sl, sl])
            blocks_d.setdefault(s, []).append(d[sl, sl])
        print(f"{path}: {len(lab.symbols)} atoms, H_0 in {t_h0:.1f} s", flush=True)

    def fmt(t):
        return " / ".join(f"{v:.1f}" for v in t)

    print("\nmean |x| over Γ-matrix elements, meV: all / on-site blocks / off-site blocks\n")
    head = "| label | atoms | H | ΔH = H − H_0 | ΔH − cS |" + (" model error | model error − cS |" if model else "") \
        + " gap: DFT / H_0" + (" / model" if model else "") + " (eV) |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = f"| {Path(r['label']).parent.name}/{Path(r['label']).name} | {r['atoms']} | {fmt(r['h'])} | " \
               f"{fmt(r['dh'])} | {fmt(r['dh_aligned'])} |"
        if model:
            line += f" {fmt(r['model_err'])} | {fmt(r['model_err_aligned'])} |"
        print(line + " " + " / ".join(f"{g:.3f}" for g in r["gap_ev"]) + " |")
    print("\non-site blocks: mean |block − element's mean block| (environment variation), meV\n")
    print("| element | blocks | H | ΔH |")
    print("|---|---|---|---|")
    variation = {}
    for s in blocks_h:
        bh, bd = np.array(blocks_h[s]), np.array(blocks_d[s])
        variation[s] = (float(np.abs(bh - bh.mean(0)).mean() * MEV),
                        float(np.abs(bd - bd.mean(0)).mean() * MEV))
        print(f"| {s} | {len(bh)} | {variation[s][0]:.1f} | {variation[s][1]:.1f} |")
    if args.json:
        from mlh_ipi.atomic_io import write_json

        write_json(args.json, {"rows": rows, "onsite_variation_mev": variation,
                               "model": str(args.model) if args.model else None})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
