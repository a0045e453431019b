"""How much does the DFT Hamiltonian itself change when a Gamma-point cell is doubled?

The MLH is trained on Gamma-point labels of ~48-atom cells (~9 Angstrom). A
Gamma-only SCF in such a cell samples the Brillouin zone at one point, so its
density, and through it the Kohn-Sham potential and H, carry a finite-size /
k-sampling error. A 2x1x1 replica at Gamma is the same structure sampled at two
k-points along a. Its real-space H folded back onto the small cell's lattice
(H_ij = H^Gamma_2x(i, j) + H^Gamma_2x(i, j + N): exactly the small cell's Gamma
folding; the folded overlap reproduces the small cell's S, which is checked) is
what the small cell's H would be with a better-sampled density. If the local
blocks of the two differ, a model
trained on the small cells predicts the small-cell H, and its error on larger
cells (BENCHMARKS.md §4h: on-site and bond errors double) includes that
difference, which no model trained on those labels can remove.

For each label: the replica is built (``ase.build.make_supercell``), its Gamma SCF
run with the label's own settings (no forces), and the folded blocks compared
with the label's (best uniform shift c S of the difference
removed; the zero of the potential is a convention in each cell):

* per-atom on-site diagonal mean: MAE and max (meV), per element;
* MAE of the on-site blocks, of bond blocks (pairs < 2 Angstrom) and of all
  blocks within 3.5 Angstrom (meV);
* the HOMO-LUMO gap of both cells (eV).

Usage::

    python benchmarks/cell_size_dft_h.py LABEL.npz [LABEL.npz ...] [--out DIR]
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

log = logging.getLogger("cell_size_dft_h")


def compare(path: Path) -> dict:
    from ase.build import make_supercell
    from ase.geometry import get_distances

    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.dft.label import label
    from mlh_ipi.electronic.compare import MEV, uniform_shift

    small = read_label(path)
    big_atoms = make_supercell(small.atoms(), np.diag([2, 1, 1]))
    t0 = time.perf_counter()
    big = label(big_atoms, small.settings, with_forces=False)
    wall = time.perf_counter() - t0
    n, off_s, off_b = small.natoms, small.atom_offsets, big.atom_offsets
    nao = off_s[-1]
    if (not np.allclose(big.positions_a[:n], small.positions_a) or off_b[n] != nao
            or not np.allclose(big.positions_a[n:], small.positions_a + small.cell_a[0])):
        raise RuntimeError("the replica is not [original cell, copy shifted by a] in the same atom order")
    # fold the replica's real-space H onto the small cell's lattice: H_ij(Gamma of the small cell)
    # = sum over both copies of j. The folded overlap must be the small cell's own S.
    def fold(m):
        return m[:nao, :nao] + m[:nao, nao:2 * nao]

    s_err = float(np.abs(fold(big.overlap) - small.overlap).max())
    if s_err > 1e-6:
        raise RuntimeError(f"folded replica overlap differs from the cell's by {s_err:.1e}")
    diff = fold(big.hamiltonian_ha) - small.hamiltonian_ha
    diff = diff - uniform_shift(diff, small.overlap) * small.overlap
    _, dist = get_distances(small.positions_a, cell=small.cell_a, pbc=True)
    onsite_diag = {}
    blocks = {"on-site": [], "bonds < 2 Å": [], "pairs < 3.5 Å": []}
    for i in range(n):
        for j in range(n):
            blk = diff[off_s[i]:off_s[i + 1], off_s[j]:off_s[j + 1]] * MEV
            if i == j:
                blocks["on-site"].append(np.abs(blk).ravel())
                onsite_diag.setdefault(small.symbols[i], []).append(float(np.diag(blk).mean()))
            elif dist[i, j] < 2.0:
                blocks["bonds < 2 Å"].append(np.abs(blk).ravel())
            if i != j and dist[i, j] < 3.5:
                blocks["pairs < 3.5 Å"].append(np.abs(blk).ravel())
    row = {"label": str(path), "atoms": n, "replica_atoms": big.natoms, "scf_wall_s": wall,
           "gap_small_ev": small.band_gap_ev(), "gap_replica_ev": big.band_gap_ev(),
           "block_mae_mev": {k: float(np.concatenate(v).mean()) for k, v in blocks.items() if v},
           "onsite_diag_mev": {el: {"mae": float(np.abs(v).mean()), "max": float(np.abs(v).max()),
                                    "std": float(np.std(v))} for el, v in onsite_diag.items()}}
    log.info("%s: %s", path.name, row)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("labels", nargs="+", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/cell_size_dft_h"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    configure_threads(args.threads)
    from mlh_ipi.atomic_io import write_json

    rows = [compare(path) for path in args.labels]
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "cell_size_dft_h.json", {"rows": rows})
    print("| label | atoms | on-site diag MAE / max, O (meV) | Si (meV) | on-site block MAE (meV) | "
          "bond block MAE (meV) | < 3.5 Å MAE (meV) | gap small / 2x (eV) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        d, b = r["onsite_diag_mev"], r["block_mae_mev"]
        print(f"| {Path(r['label']).parent.name}/{Path(r['label']).name} | {r['atoms']} | "
              f"{d['O']['mae']:.1f} / {d['O']['max']:.1f} | {d['Si']['mae']:.1f} / {d['Si']['max']:.1f} | "
              f"{b['on-site']:.2f} | {b['bonds < 2 Å']:.2f} | {b['pairs < 3.5 Å']:.2f} | "
              f"{r['gap_small_ev']:.3f} / {r['gap_replica_ev']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
