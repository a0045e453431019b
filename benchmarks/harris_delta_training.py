"""Experiment: train the MLH on ΔH = H_DFT − H_0 (Harris baseline) instead of H_DFT, same network.

``benchmarks/harris_baseline.py`` showed that the Kohn-Sham matrix of the superposed
atomic densities, H_0 = h_core + V_Hxc[D_atoms], leaves off-site elements of only
~14 meV mean |ΔH| (H itself: ~220 meV), while the shipped model errs by ~6 meV there.
This script asks whether the *same* architecture learns ΔH to a smaller error than it
learns H, which is what an H_0-baseline model would buy for gaps and levels (issue 3).
It does not build such a model into the package: serving it needs H_0 at inference (one
potential build) and, for consistent forces, dH_0/dR (not implemented). See
BENCHMARKS.md §4c.

Stages (each resumes; work folder git-ignored):

``baseline``  H_0 for every label of ``--sets`` (``harris_baseline.harris_hamiltonian``);
              writes ``WORK/h0/SET/NAME.npy`` and a copy of each label with H replaced by
              ΔH in ``WORK/labels/SET/`` (same file names, so the 8:1:1 split is the
              shipped model's).
``train``     ``mlh-ipi train-h`` on ``WORK/labels/train`` with the shipped model's
              architecture (phase-3 options), from scratch, ``--epochs`` epochs, phase-1
              learning rate: compare with phase 1 of the shipped model at the same epoch
              (train 9.2 / val 10.4 meV at epoch 93).
``eval``      on the held-out sets: H MAE, eigenvalue MAE (±3 eV), gap and defect-level
              errors of H_0 + ΔH_ML and of the shipped H model, side by side.
``export``    write the ΔH model as a baseline checkpoint, ``--export`` (default
              ``examples/sio2_vo/model/harris/best.pt``): the same weights with
              ``model_config.baseline = "harris"``, so the predictor adds H_0 itself. The
              ΔH labels of ``baseline`` use exactly ``mlh_ipi.dft.harris``'s H_0 (the minao
              density, one potential build); the stage checks that on one label.
``energy``    on the held-out sets: E_KS[D(H)] (the MLH energy, no SCF) and the
              Hellmann-Feynman/Pulay forces at D(H) against the DFT label, for the same
              three Hamiltonians. Since E_KS is variational its error is quadratic in the
              H error; this stage measures how the energy bias scales with H MAE.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/harris_delta_training.py --stages baseline train eval
"""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from harris_baseline import harris_hamiltonian  # noqa: E402

LABELS = ROOT / "examples" / "sio2_vo" / "data" / "labels"
SHIPPED = ROOT / "examples" / "sio2_vo" / "model" / "best.pt"
MEV = 27211.386245988

CONFIG = """# written by benchmarks/harris_delta_training.py: the shipped model's architecture on ΔH labels
[data]
folders = ["labels/train"]
split = [0.8, 0.1, 0.1]
split_seed = 0

[model]
cutoff_h = 8.0
cutoff_mp = 5.0
num_layers = 3
mp_switch_width = 1.0

[training]
output = "model"
seed = 0
epochs = {epochs}
batch_size = 2
lr = 5e-3
early_stopping_patience = 40
scheduler_patience = 8
loss = "rmse"
"""


def stage_baseline(work: Path, sets: list[str]) -> None:
    from tqdm import tqdm

    from mlh_ipi.atomic_io import atomic_path
    from mlh_ipi.data.labelfile import label_files, read_label, write_label

    for name in sets:
        files = label_files(LABELS / name)
        (work / "h0" / name).mkdir(parents=True, exist_ok=True)
        (work / "labels" / name).mkdir(parents=True, exist_ok=True)
        for path in tqdm(files, desc=f"H_0 {name}"):
            out = work / "labels" / name / path.name
            if out.exists():
                continue
            lab = read_label(path)
            h0, _ = harris_hamiltonian(lab)
            with atomic_path(work / "h0" / name / (path.name + ".npy"), suffix=".npy") as tmp:
                np.save(tmp, h0)
            write_label(out, dataclasses.replace(lab, hamiltonian_ha=lab.hamiltonian_ha - h0))


def stage_train(work: Path, epochs: int, threads: int) -> None:
    cfg = work / "train.toml"
    cfg.write_text(CONFIG.format(epochs=epochs))
    resume = ["--resume"] if (work / "model").exists() else []
    subprocess.run([sys.executable, "-m", "mlh_ipi.cli.main", "--threads", str(threads), "train-h", str(cfg),
                    *resume], check=True)


def stage_eval(work: Path, sets: list[str]) -> None:
    from mlh_ipi.data.labelfile import label_files, read_label
    from mlh_ipi.electronic.compare import compare_hamiltonians, uniform_shift
    from mlh_ipi.model.predictor import HamiltonianPredictor

    delta = HamiltonianPredictor.load(work / "model" / "best.pt")
    plain = HamiltonianPredictor.load(SHIPPED)
    print("\n| set | structures | model | H MAE (meV) | eig MAE ±3 eV (meV) | gap MAE (meV) | level MAE (meV) "
          "| uniform shift c (meV) | eig MAE with c S removed (meV) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in sets:
        if name == "train":
            continue
        rows = {"H_0 + ΔH_ML": [], "shipped H_ML": [], "H_0 alone": []}
        aligned = {k: [] for k in rows}
        for path in label_files(LABELS / name):
            lab = read_label(path)
            h0 = np.load(work / "h0" / name / (path.name + ".npy"))
            g = delta.graph(lab.symbols, lab.positions_a, lab.cell_a)
            defect = lab.info.get("defect_atoms", lab.info.get("defect_si"))
            for key, h in (("H_0 + ΔH_ML", h0 + delta.predict_gamma(g)),
                           ("shipped H_ML", plain.predict_gamma(plain.graph(lab.symbols, lab.positions_a,
                                                                             lab.cell_a))),
                           ("H_0 alone", h0)):
                rows[key].append(compare_hamiltonians(h, lab.hamiltonian_ha, lab.overlap, lab.atom_offsets,
                                                      lab.nelectron, defect_atoms=defect))
                c = uniform_shift(h - lab.hamiltonian_ha, lab.overlap)  # a constant potential: changes no gap
                e = compare_hamiltonians(h - c * lab.overlap, lab.hamiltonian_ha, lab.overlap, lab.atom_offsets,
                                         lab.nelectron, defect_atoms=defect)
                aligned[key].append((c * MEV, e.eigenvalue_mae_mev))
        for key, errs in rows.items():
            levels = [e.defect_level_error_mev for e in errs if e.defect_level_error_mev is not None]
            print(f"| {name} | {len(errs)} | {key} | {np.mean([e.h_mae_mev for e in errs]):.2f} | "
                  f"{np.mean([e.eigenvalue_mae_mev for e in errs]):.1f} | "
                  f"{np.mean([abs(e.gap_error_mev) for e in errs]):.1f} | "
                  f"{(np.mean(np.abs(levels)) if levels else float('nan')):.1f} | "
                  f"{', '.join(f'{c:+.0f}' for c, _ in aligned[key])} | "
                  f"{np.mean([e for _, e in aligned[key]]):.1f} |", flush=True)


def stage_energy(work: Path, sets: list[str]) -> None:
    import json

    from mlh_ipi.atomic_io import atomic_path
    from mlh_ipi.data.labelfile import label_files, read_label
    from mlh_ipi.electronic.compare import compare_hamiltonians
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.functional import KohnShamFunctional
    from mlh_ipi.energy.occupations import occupations
    from mlh_ipi.model.predictor import HamiltonianPredictor
    from mlh_ipi.units import HARTREE, HARTREE_PER_BOHR

    delta = HamiltonianPredictor.load(work / "model" / "best.pt")
    plain = HamiltonianPredictor.load(SHIPPED)
    rows = []
    for name in sets:
        if name == "train":
            continue
        for path in label_files(LABELS / name):
            lab = read_label(path)
            atoms = lab.atoms()
            ks = KohnShamFunctional(atoms, lab.settings)
            h0 = np.load(work / "h0" / name / (path.name + ".npy"))
            g = delta.graph(lab.symbols, lab.positions_a, lab.cell_a)
            for key, h in (("H_0 + ΔH_ML", h0 + delta.predict_gamma(g)),
                           ("shipped H_ML", plain.predict_gamma(plain.graph(lab.symbols, lab.positions_a,
                                                                             lab.cell_a))),
                           ("H_0 alone", h0)):
                e, c = solve(h, ks.overlap)
                occ = occupations(e, ks.nelectron, lab.settings.smearing)
                energy, grad = ks.energy_and_gradient(e, c, occ.occ, density_matrix(c, occ.occ))
                df = (-grad * HARTREE_PER_BOHR - lab.forces_ev_per_a) * 1000
                cmp = compare_hamiltonians(h, lab.hamiltonian_ha, lab.overlap, lab.atom_offsets, lab.nelectron)
                rows.append({"set": name, "label": path.name, "atoms": lab.natoms, "kind": lab.info.get("kind", ""),
                             "model": key, "h_mae_mev": cmp.h_mae_mev,
                             "de_mev_per_atom": (energy * HARTREE - lab.energy_ev) * 1000 / lab.natoms,
                             "f_mae_mev_per_a": float(np.abs(df).mean())})
                r = rows[-1]
                print(f"{name} {path.name} {key}: H {r['h_mae_mev']:.2f} meV, dE {r['de_mev_per_atom']:+.3f} "
                      f"meV/atom, F(HF) MAE {r['f_mae_mev_per_a']:.1f} meV/A", flush=True)
    with atomic_path(work / "energy_rows.json") as tmp:
        Path(tmp).write_text(json.dumps(rows, indent=1))
    print("\n| set | model | H MAE (meV) | mean dE (meV/atom) | E(V_O) - E(host) error per cell (meV) "
          "| F MAE, HF at D(H) (meV/A) |")
    print("|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        for key in dict.fromkeys(r["model"] for r in rows):
            sel = [r for r in rows if r["set"] == name and r["model"] == key]
            host = [r for r in sel if r["kind"] == "host"]
            vac = ", ".join(f"{(r['de_mev_per_atom'] * r['atoms'] - host[0]['de_mev_per_atom'] * host[0]['atoms']):+.0f}"
                            for r in sel if host and r is not host[0])
            print(f"| {name} | {key} | {np.mean([r['h_mae_mev'] for r in sel]):.2f} | "
                  f"{np.mean([r['de_mev_per_atom'] for r in sel]):+.2f} | {vac} | "
                  f"{np.mean([r['f_mae_mev_per_a'] for r in sel]):.1f} |")


def stage_export(work: Path, target: Path) -> None:
    from mlh_ipi.data.labelfile import label_files, read_label
    from mlh_ipi.dft.harris import HarrisBaseline
    from mlh_ipi.model.checkpoint import read_checkpoint, save_checkpoint

    first = label_files(LABELS / "test48")[0]
    lab = read_label(first)
    cached = np.load(work / "h0" / "test48" / (first.name + ".npy"))
    diff = float(np.abs(HarrisBaseline(lab.atoms(), lab.settings).hamiltonian_ha() - cached).max())
    if diff > 1e-10:
        raise SystemExit(f"the cached H_0 differs from mlh_ipi.dft.harris by {diff:.2e} Ha: retrain")
    ckpt = read_checkpoint(work / "model" / "best.pt")
    ckpt["model_config"] = {**ckpt["model_config"], "baseline": "harris"}
    ckpt.pop("training", None)  # weights only: nothing to resume in the exported file
    target.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(target, ckpt)
    print(f"wrote {target} (H_0 check: {diff:.1e} Ha)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", nargs="+", choices=("baseline", "train", "eval", "export", "energy"),
                   default=["baseline", "train", "eval"])
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "harris_delta")
    p.add_argument("--sets", nargs="+", default=["test48", "test96p", "train"])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export", type=Path, default=ROOT / "examples" / "sio2_vo" / "model" / "harris" / "best.pt")
    args = p.parse_args(argv)
    from mlh_ipi.threads import configure_threads

    configure_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    if "baseline" in args.stages:
        stage_baseline(args.work, args.sets)
    if "train" in args.stages:
        stage_train(args.work, args.epochs, args.threads)
    if "eval" in args.stages:
        stage_eval(args.work, args.sets)
    if "export" in args.stages:
        stage_export(args.work, args.export)
    if "energy" in args.stages:
        stage_energy(args.work, args.sets)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
