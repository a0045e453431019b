"""How far does the model look? The sensitivity of a predicted on-site level to every atom.

BENCHMARKS.md §4h: the on-site errors double from the 48-atom test cells to the 2x
cells. One suspect is locality: 3 message-passing layers of 5 Angstrom reach 15
Angstrom, beyond the ~9 Angstrom period of the 48-atom training cells, so in
training every atom also "sees" periodic images of itself and its neighbours, and
the network may have learned features that only make sense at that period.

This script measures the network's receptive field directly. For an atom i, let
eps_i be the mean of the diagonal of its predicted on-site block (the network's
own part: H for a plain model, Delta H = H - H_0 for a Harris-baseline model; the
baseline H_0 is a fixed functional of the geometry, not learned). One
vector-Jacobian product gives g_j = d eps_i / d r_j for every atom j (meV/Angstrom).
Reported per model and structure, over the sampled atoms i:

* the share of sum_j |g_j| that comes from atoms j beyond 3, 5, 8, 10 and 12 Angstrom
  (minimum-image distance);
* the mean |g_j| in distance bins (``profile.png``).

If the far share is negligible, the model is effectively local and a 2x cell shows it
nothing the training cells could not; if not, its on-site prediction leans on
far atoms whose arrangement in the 9 Angstrom training cells is periodic.

Usage::

    python benchmarks/receptive_field.py MODEL [MODEL ...] --labels test48=FILE test96p=FILE \
        [--atoms 12] [--out DIR]
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from mlh_ipi.electronic.compare import MEV  # meV per Hartree
from mlh_ipi.threads import configure_threads

log = logging.getLogger("receptive_field")
RADII_A = (3.0, 5.0, 8.0, 10.0, 12.0)
BIN_EDGES_A = np.arange(0.0, 16.5, 1.0)



def sensitivities(model, symbols, positions_a, cell_a, atoms: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(|g|, d): for each atom i of ``atoms``, |d eps_i / d r_j| (meV/Angstrom) and the minimum-image
    distance d_ij (Angstrom) for every atom j; both (len(atoms), N)."""
    from ase.geometry import get_distances

    graph = model.graph(symbols, positions_a, cell_a)
    off = graph.atom_offsets
    _, dist = get_distances(positions_a, cell=cell_a, pbc=True)
    nao = off[-1]
    mags = []
    for i in atoms:
        w = np.zeros((nao, nao))
        k = np.arange(off[i], off[i + 1])
        w[k, k] = 1.0 / len(k)  # eps_i = mean of the on-site diagonal
        g = model.network_gamma_vjp(graph, w) * MEV  # (N, 3) meV/Angstrom
        mags.append(np.linalg.norm(g, axis=1))
    return np.array(mags), dist[atoms]


def pick_atoms(symbols, n: int, seed: int = 0) -> list[int]:
    """``n`` atoms, split evenly over the elements, reproducibly."""
    rng = np.random.default_rng(seed)
    elements = sorted(set(symbols))
    out = []
    for e in elements:
        idx = [k for k, s in enumerate(symbols) if s == e]
        out += sorted(rng.choice(idx, size=min(len(idx), max(1, n // len(elements))), replace=False).tolist())
    return out


def summarise(mag: np.ndarray, dist: np.ndarray) -> dict:
    total = mag.sum(axis=1)
    shares = {f"beyond_{r:g}A": float(np.mean(np.where(dist > r, mag, 0).sum(axis=1) / total)) for r in RADII_A}
    bins = np.digitize(dist, BIN_EDGES_A) - 1
    profile = [float(mag[bins == b].mean()) if (bins == b).any() else None for b in range(len(BIN_EDGES_A) - 1)]
    return {"share_of_sensitivity": shares, "mean_abs_g_by_bin_mev_per_a": profile,
            "max_distance_a": float(dist.max()), "self_mean_abs_g": float(np.mean(mag[dist == 0]))}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlh_ipi.atomic_io import save_figure

    fig, ax = plt.subplots(figsize=(6, 4))
    centres = 0.5 * (BIN_EDGES_A[1:] + BIN_EDGES_A[:-1])
    for key, res in results.items():
        y = np.array([np.nan if v is None else v for v in res["mean_abs_g_by_bin_mev_per_a"]])
        ax.semilogy(centres, y, "o-", ms=3, label=key)
    ax.set_xlabel("distance of atom j from atom i (Å, minimum image)")
    ax.set_ylabel("mean |∂ε_i/∂r_j| (meV/Å)")
    ax.set_title("receptive field of the on-site level ε_i (network part)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def markdown(results: dict) -> str:
    lines = ["| model / structure | " + " | ".join(f"share beyond {r:g} Å" for r in RADII_A)
             + " | largest distance (Å) |", "|---" * (len(RADII_A) + 2) + "|"]
    for key, res in results.items():
        s = res["share_of_sensitivity"]
        lines.append(f"| {key} | " + " | ".join(f"{100 * s[f'beyond_{r:g}A']:.1f} %" for r in RADII_A)
                     + f" | {res['max_distance_a']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--labels", nargs="+", required=True, help="NAME=label file (.label.npz) or structure (extxyz)")
    p.add_argument("--atoms", type=int, default=12, help="atoms i sampled per structure (split over elements)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/receptive_field"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    from ase.io import read

    from mlh_ipi.atomic_io import write_json, write_text
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.model.predictor import HamiltonianPredictor

    structures = {}
    for item in args.labels:
        name, _, path = item.partition("=")
        if path.endswith(".label.npz"):
            lab = read_label(path)
            structures[name] = (list(lab.symbols), lab.positions_a, lab.cell_a)
        else:
            at = read(path)
            structures[name] = (at.get_chemical_symbols(), at.positions, at.cell.array)
    results = {}
    for mpath in args.models:
        model = HamiltonianPredictor.load(mpath)
        tag = mpath.parent.name if mpath.name == "best.pt" else mpath.stem
        for name, (symbols, pos, cell) in structures.items():
            atoms = pick_atoms(symbols, args.atoms)
            mag, dist = sensitivities(model, symbols, pos, cell, atoms)
            results[f"{tag} / {name} ({len(symbols)} atoms)"] = summarise(mag, dist)
            log.info("%s / %s: %s", tag, name, results[f"{tag} / {name} ({len(symbols)} atoms)"]["share_of_sensitivity"])
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "results.json", {"radii_a": RADII_A, "bin_edges_a": BIN_EDGES_A.tolist(),
                                           "results": results, "argv": argv})
    table = markdown(results)
    write_text(args.out / "results.md", table)
    plot(results, args.out / "profile.png")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
