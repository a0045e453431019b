"""GaAs native point defects end to end at small scale: structures -> DFT -> MLH AL -> MACE -> MD + stream.

One command, every stage resumable (rerun it after an interruption; finished
stages are skipped, unfinished ones continue)::

    OMP_NUM_THREADS=1 nice -n 5 python examples/gaas_defects/run.py            # all stages
    python examples/gaas_defects/run.py --stages md report                     # some stages

Stages (work folder ``runs/gaas_defects`` by default, git-ignored):

``structures``  pristine GaAs and the five neutral native defects (V_Ga, V_As,
                Ga_i, As_i, As_Ga) in 64-atom cells (``mlh_ipi.structures.gaas``);
                ``info["defect_atoms"]`` = the defect atom and its first shell
                (vacancy: the four dangling-bond neighbours), used for level picking.
``pool``        Einstein-model thermal snapshots (``thermal_snapshots``, classical,
                5 THz, i.e. ~0.06 Å r.m.s. at 300 K) at 100, 300 and 500 K,
                ``--snapshots`` per (defect, T): the candidate pool of the AL.
``al``          MLH committee active learning (``mlh-ipi al-mlh``,
                ``mlh_ipi.workflows.al_mlh``): held-out test set spread over the
                (defect, T) groups, k-means initial set, rounds balanced over groups.
``mace``        a MACE force field (``mace_run_train``) on every DFT label of the AL,
                errors on the AL test set.
``md``          LAMMPS NVT Langevin MD with MACE at 100, 300, 500 K per defect with the
                on-the-fly MLH stream (``mlh_ipi.stream.run.stream_md``): gap,
                band edges and in-gap levels per snapshot, statistics per T.
``report``      tables and plots across defects (``results/``): gap vs T and levels
                vs T, pristine GaAs as the control.

Cheap DFT setting of this small default (``CHEAP_DFT``): PBE, GTH-PBE pseudos (Ga
with 3d in valence, 13 e; As 5 e), ``gth-szv-molopt-sr``, 60 Ha density grid,
precision 1e-6, SCF tolerance 1e-7 Ha, Gamma point, Fermi-Dirac smearing 0.1 eV.
Smearing is needed because four of the six neutral cells (V_Ga, V_As, Ga_i,
As_i) have an odd number of electrons and the labels are spin-restricted; the
half-filled defect level then gets occupation 1.

Measured (2026-11-22, 2-core shared CPU with a background DFT job and other tests
running, 1 thread, ``nice -n 5``): one 64-atom As_Ga label at 60 Ha without
smearing took 119 s (SCF 80 s in 9 cycles, mesh 77^3, 411 orbitals; forces 22 s).
The full study's 500 Ha would be roughly 10x the grid points. See README.md here
for the full-study settings.

**Forces at this cheap setting are not usable** (measured): the unrattled,
site-symmetric As_Ga cell gets an r.m.s. force of 12.4 eV/Å (max 29 eV/Å)
and the thermal snapshots 13.4-13.6 eV/Å with |sum F| of 90-170 eV/Å, i.e.
grid (egg-box) error of the 60 Ha mesh with the semicore Ga pseudopotential,
not physics. A MACE trained on them cannot fit the forces (test force RMSE ~
reference RMS). The MD of the small default therefore uses
``--md-forcefield bop-mace`` (default): a small MACE fitted to the classical
BOP potential (``GaAs.bop.table``) on thermal snapshots; ``dft-mace`` uses the
MACE of the ``mace`` stage (the choice for the full study at 500 Ha). The
Hamiltonian labels at 60 Ha are self-consistent but physically coarse
(pristine Gamma-point gap 0.17-0.19 eV in the 64-atom cell).
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

from mlh_ipi.atomic_io import atomic_path, write_json, write_text

log = logging.getLogger("gaas_defects")

DEFECTS = ("pristine", "V_Ga", "V_As", "Ga_i", "As_i", "As_Ga")
TEMPERATURES = (100.0, 300.0, 500.0)
EINSTEIN_THZ = 5.0
FIRST_SHELL_A = 2.7  # Å: GaAs bond 2.49 Å at a = 5.75 Å; the next shell is at 4.07 Å
CHEAP_DFT = {"ke_cutoff": 60.0, "precision": 1e-6, "conv_tol": 1e-7, "smearing": 0.1,
             "basis": "gth-szv-molopt-sr", "pseudo": "gth-pbe", "xc": "PBE"}
STAGES = ("structures", "pool", "al", "mace", "md", "report")


def defect_atoms(atoms) -> list[int]:
    """Indices of the defect's atoms: the defect atom and its first shell; vacancy: its neighbours."""
    from ase.geometry import get_distances

    kind = atoms.info["defect"]
    if kind == "pristine":
        return []
    centre = np.asarray(atoms.info["defect_position"], dtype=float)
    _, d = get_distances(centre[None, :], atoms.positions, cell=atoms.cell, pbc=True)
    near = np.flatnonzero(d[0] < FIRST_SHELL_A)
    idx = set(near.tolist())
    if atoms.info.get("defect_index", -1) >= 0:
        idx.add(int(atoms.info["defect_index"]))
    return sorted(idx)


# ---------------------------------------------------------------------------- stages

def _structure(kind: str, n_atoms: int):
    """The builder's defect cell with ``info["defect_atoms"]`` (absent for pristine: IPR picking)."""
    from mlh_ipi.structures.gaas import gaas_defect

    at = gaas_defect(kind, n_atoms)
    if kind != "pristine":
        at.info["defect_atoms"] = defect_atoms(at)
    return at


def stage_structures(work: Path, n_atoms: int) -> Path:
    from ase.io import write

    out = work / "structures.extxyz"
    if out.exists():
        return out
    frames = [_structure(kind, n_atoms) for kind in DEFECTS]
    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")
    log.info("structures: %s", ", ".join(f"{a.info['defect']} ({len(a)} atoms, defect atoms "
                                          f"{a.info.get('defect_atoms', 'none: IPR')})" for a in frames))
    return out


def stage_pool(work: Path, snapshots: int, n_atoms: int) -> Path:
    from ase.io import write

    from mlh_ipi.structures.rattle import thermal_snapshots

    out = work / "pool.extxyz"
    if out.exists():
        return out
    frames = []
    for d, kind in enumerate(DEFECTS):
        host = _structure(kind, n_atoms)
        for t in TEMPERATURES:
            frames += thermal_snapshots(host, t, snapshots, seed=1000 * d + int(t),
                                        frequency_thz=EINSTEIN_THZ)
    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")
    log.info("pool: %d snapshots (%d defects x %d temperatures x %d)", len(frames), len(DEFECTS),
             len(TEMPERATURES), snapshots)
    return out


def al_config(work: Path, args) -> dict:
    return {
        "workdir": "al", "pool": "pool.extxyz", "group_keys": ["defect", "temperature_K"],
        "committee": 2, "max_rounds": args.al_rounds,
        "initial": {"count": args.initial, "r_max": 6.0, "bin_width": 0.1, "smearing": 0.1, "seed": 0},
        "test": {"count": args.test, "seed": 1000},
        "selection": {"per_round": args.per_round, "threshold_ev": 0.0},
        "dft": CHEAP_DFT,
        "model": {"cutoff_h": 6.0, "cutoff_mp": 4.0, "num_layers": 2, "num_basis": 8, "radial_hidden": 32},
        "training": {"epochs": args.epochs, "lr": 1e-2, "batch_size": 1, "split": [0.9, 0.1, 0.0],
                     "early_stopping_patience": 15},
    }


def _toml(d: dict) -> str:
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += ["", f"[{k}]"] + [f"{kk} = {val(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def stage_al(work: Path, args) -> dict:
    from mlh_ipi.workflows.al_mlh import load_config, run_active_learning

    path = work / "al_mlh.toml"
    text = "# written by examples/gaas_defects/run.py; rerun: mlh-ipi al-mlh " + str(path) + "\n"
    text += _toml(al_config(work, args))
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return run_active_learning(load_config(path), progress=True)


def _label_dirs(work: Path) -> tuple[list[Path], list[Path]]:
    labels = work / "al" / "labels"
    train = sorted(p for p in labels.glob("*") if p.is_dir() and p.name != "test")
    return train, [labels / "test"]


def stage_mace(work: Path, args) -> Path:
    from mlh_ipi.forcefield.export import export_labels
    from mlh_ipi.forcefield.mace_training import MACETrainingSettings, model_path, train_mace

    out = work / "mace"
    train_file = out / "train.extxyz"
    train_dirs, test_dirs = _label_dirs(work)
    if not train_file.exists():
        out.mkdir(parents=True, exist_ok=True)
        export_labels(train_dirs, train_file)
        export_labels(test_dirs, out / "test.extxyz")
    settings = MACETrainingSettings(r_max=5.0, num_channels=16, max_L=1, correlation=2,
                                    max_num_epochs=args.mace_epochs, batch_size=2, lr=0.01,
                                    valid_fraction=0.15, eval_interval=5)
    train_mace(train_file, out, settings, seed=0, threads=1, progress=True)
    model = model_path(out)
    errors = out / "test_errors.json"
    if not errors.exists():
        from mlh_ipi.forcefield.committee import load_mace
        from mlh_ipi.forcefield.errors import force_field_errors
        from mlh_ipi.forcefield.export import read_reference

        frames, e, f = read_reference(out / "test.extxyz")
        res = force_field_errors(load_mace([model]), frames, e, f)
        write_json(errors, res)
        log.info("MACE on the AL test set: %s", res)
    return model


def bop_mace(work: Path) -> Path:
    """A small GaAs MACE trained (``mace_run_train``) on classical BOP (``GaAs.bop.table``)
    energies and forces of strained and thermal snapshots; cached in ``work/mace_bop``."""
    from mlh_ipi.forcefield.classical_fit import gaas_bop_mace

    return gaas_bop_mace(work / "mace_bop")


def stage_md(work: Path, args, mace_model: Path) -> None:
    from ase.io import read

    from mlh_ipi.stream.run import stream_md

    committee = work / "al" / f"round_{_last_round(work):03d}" / "committee"
    structures = read(work / "structures.extxyz", index=":")
    for at in structures:
        kind = at.info["defect"]
        out = work / "md" / kind
        da = [int(i) for i in np.atleast_1d(at.info.get("defect_atoms", []))]
        at.info.pop("defect_atoms", None)
        t0 = time.perf_counter()
        stream_md(ROOT / "lammps_inputs" / "md_nvt_langevin.in", [mace_model], at, TEMPERATURES,
                  args.md_steps, out, committee, every=args.md_every, type_map=None,
                  defect=kind, defect_atoms=da or None, workers=0, maxsize=64, policy="block",
                  checkpoint_every_s=30.0, seed=12345, threads=1)
        log.info("MD + stream %s: %.0f s", kind, time.perf_counter() - t0)


def _last_round(work: Path) -> int:
    state = json.loads((work / "al" / "state.json").read_text())
    return int(state["round"])


def stage_report(work: Path) -> list[Path]:
    """Combine the per-defect stream summaries and the AL learning curve into ``results/``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = work / "results"
    res.mkdir(exist_ok=True)
    rows = []
    for kind in DEFECTS:
        path = work / "md" / kind / "stream" / "summary.json"
        if path.exists():
            data = json.loads(path.read_text())
            rows += data["groups"] if isinstance(data, dict) and "groups" in data else data
    written = []
    if rows:
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with atomic_path(res / "gap_levels_vs_temperature.csv", suffix=".csv") as tmp:
            with open(tmp, "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=keys)
                w.writeheader()
                w.writerows(rows)
        written.append(res / "gap_levels_vs_temperature.csv")
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for kind in DEFECTS:
            mine = sorted((r for r in rows if r["defect"] == kind), key=lambda r: r["temperature_k"])
            if not mine:
                continue
            t = [r["temperature_k"] for r in mine]
            style = dict(marker="o", capsize=3, lw=2.5 if kind == "pristine" else 1.2,
                         color="k" if kind == "pristine" else None)
            axes[0].errorbar(t, [r["band_gap_mean"] for r in mine],
                             yerr=[r["band_gap_std"] or 0 for r in mine], label=kind, **style)
            lv = [(r["temperature_k"], r.get("level0_below_cbm_mean"), r.get("level0_below_cbm_std"))
                  for r in mine if r.get("level0_below_cbm_mean") is not None]
            if lv and kind != "pristine":
                axes[1].errorbar([x[0] for x in lv], [-x[1] for x in lv], yerr=[x[2] or 0 for x in lv],
                                 label=kind, marker="o", capsize=3)
        if not axes[1].lines:
            axes[1].text(0.5, 0.5, "no in-gap defect level picked", ha="center", va="center",
                         transform=axes[1].transAxes)
        axes[0].set_ylabel("host-like band gap (eV)")
        axes[1].set_ylabel("lowest in-gap level $-$ CBM (eV)")
        for ax in axes:
            ax.set_xlabel("temperature (K)")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.suptitle("MLH on LAMMPS+MACE MD snapshots (bars: thermal std); pristine = control")
        fig.tight_layout()
        with atomic_path(res / "gap_levels_vs_temperature.png", suffix=".png") as tmp:
            fig.savefig(tmp, dpi=120)
        plt.close(fig)
        written.append(res / "gap_levels_vs_temperature.png")
    for name in ("learning_curve.csv", "learning_curve.png"):
        src = work / "al" / name
        if src.exists():
            with atomic_path(res / name) as tmp:
                tmp.write_bytes(src.read_bytes())
            written.append(res / name)
    mace_err = work / "mace" / "test_errors.json"
    if mace_err.exists():
        with atomic_path(res / "mace_test_errors.json") as tmp:
            tmp.write_bytes(mace_err.read_bytes())
        written.append(res / "mace_test_errors.json")
    written.append(_summary_markdown(work, res, rows))
    for p in written:
        log.info("wrote %s", p)
    return written


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def _summary_markdown(work: Path, res: Path, rows: list[dict]) -> Path:
    """``results/summary.md``: AL learning curve, MACE test errors, gap/levels per (defect, T)."""
    lines = ["# GaAs defects: small-default run", ""]
    state = work / "al" / "state.json"
    if state.exists():
        st = json.loads(state.read_text())
        lines += [f"AL: {st.get('reason') or 'not finished'}", "",
                  "| round | n_train | test H MAE (meV) | shift-aligned (meV) | test gap MAE (meV) | "
                  "test committee max std (meV) | pool max std (meV) | selected |", "|---|---|---|---|---|---|---|---|"]
        for h in st.get("history", []):
            lines.append(f"| {h['round']} | {h['n_train']} | {h['test_h_mae_mev']:.1f} | "
                         f"{h['test_h_mae_aligned_mev']:.1f} | {h['test_gap_mae_mev']:.0f} | "
                         f"{h['test_mean_max_std_mev']:.1f} | {_fmt(h.get('pool_max_std_mev'), '.1f')} | "
                         f"{h.get('n_selected', '-')} |")
        lines.append("")
    mace_err = work / "mace" / "test_errors.json"
    if mace_err.exists():
        e = json.loads(mace_err.read_text())
        lines += [f"MACE on the AL test set ({e['n_structures']} structures): energy RMSE "
                  f"{e['energy_rmse_mev_per_atom']:.2f} meV/atom, force RMSE {e['force_rmse_mev_per_a']:.0f} meV/Å "
                  f"(reference force RMS {e['force_ref_rms_mev_per_a']:.0f} meV/Å)", ""]
    if rows:
        lines += ["MLH (AL committee) on LAMMPS+MACE MD snapshots; ± = thermal std over snapshots (eV):", "",
                  "| defect | T (K) | n | gap | VBM | CBM | in-gap levels / snapshot | level0 − VBM | CBM − level0 | committee gap std |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['defect']} | {r['temperature_k']:g} | {r['n_snapshots']} | "
                f"{_fmt(r['band_gap_mean'])} ± {_fmt(r['band_gap_std'])} | {_fmt(r['vbm_mean'])} | "
                f"{_fmt(r['cbm_mean'])} | {_fmt(r['n_levels_mean'], '.2f')} | "
                f"{_fmt(r.get('level0_above_vbm_mean'))} ± {_fmt(r.get('level0_above_vbm_std'))} | "
                f"{_fmt(r.get('level0_below_cbm_mean'))} | {_fmt(r.get('band_gap_committee_std_mean'))} |")
    path = res / "summary.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "gaas_defects")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--atoms", type=int, default=64, choices=(64, 128, 216), help="host supercell size")
    p.add_argument("--snapshots", type=int, default=4, help="pool snapshots per (defect, T)")
    p.add_argument("--test", type=int, default=3, help="held-out test structures")
    p.add_argument("--initial", type=int, default=4, help="k-means initial training structures")
    p.add_argument("--per-round", type=int, default=3, help="new labels per AL round")
    p.add_argument("--al-rounds", type=int, default=1, help="AL rounds after round 0")
    p.add_argument("--epochs", type=int, default=60, help="MLH training epochs per member")
    p.add_argument("--mace-epochs", type=int, default=30)
    p.add_argument("--md-steps", type=int, default=150, help="MD steps per temperature (1 fs)")
    p.add_argument("--md-every", type=int, default=15, help="stream a snapshot every N steps")
    p.add_argument("--md-forcefield", choices=("bop-mace", "dft-mace"), default="bop-mace",
                   help="MACE for the MD: fitted to classical BOP snapshots (default: the cheap 60 Ha "
                        "DFT forces are not converged) or the one trained on the DFT labels (full study)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    import torch

    torch.set_num_threads(1)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    times = json.loads((work / "stage_times.json").read_text()) if (work / "stage_times.json").exists() else {}
    mace_model = None
    for stage in STAGES:
        if stage not in args.stages:
            continue
        t0 = time.perf_counter()
        log.info("=== stage %s", stage)
        if stage == "structures":
            stage_structures(work, args.atoms)
        elif stage == "pool":
            stage_pool(work, args.snapshots, args.atoms)
        elif stage == "al":
            state = stage_al(work, args)
            log.info("AL: %s", state["reason"])
        elif stage == "mace":
            mace_model = stage_mace(work, args)
        elif stage == "md":
            if mace_model is None:
                from mlh_ipi.forcefield.mace_training import model_path

                mace_model = model_path(work / "mace")
            if args.md_forcefield == "bop-mace":
                mace_model = bop_mace(work)
            log.info("MD force field: %s (%s)", args.md_forcefield, mace_model)
            stage_md(work, args, mace_model)
        elif stage == "report":
            stage_report(work)
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - t0
        write_json(work / "stage_times.json", times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
