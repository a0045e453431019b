"""GaAs MACE vs DFT on snapshots of production LAMMPS MD at 300 K (issue target: force RMSE <= 20 meV/Å).

The run behind BENCHMARKS.md "GaAs MACE vs DFT". Stages (each resumes; rerun the
same command after an interruption):

``al``        committee active learning of the MACE on 64-atom GaAs cells with the
              five neutral native defects (``examples/al_mace/gaas64_q3.toml``,
              :mod:`mlh_ipi.workflows.al_mace`; DFT labels with Ga 3d in the core at
              80 Ha, BENCHMARKS.md section 1c).
``md``        production MD with the **final committee member** (the last member of the
              last round), LAMMPS + MACE through ``fix external``
              (``lammps_inputs/md_nvt_langevin.in``), 300 K, ``--md-steps`` steps of
              1 fs, one run per defect cell.
``snapshots`` ``--per-cell`` frames per cell, evenly spaced after ``--skip-ps`` of
              equilibration (pristine included as the control, marked separately).
``label``     DFT labels of those frames (same settings as the AL labels).
``report``    energy and force errors of the final member (and of the committee mean)
              per cell and over the five defect cells; parity plot; the table is
              printed and written to ``--out`` (``results.json``, ``results.md``,
              ``force_parity.png``, ``snapshots_round_RRR.extxyz`` with the DFT labels).
              The DFT-labelled snapshots of earlier checks (``snapshots_*.extxyz``
              in ``--out``, MD of earlier models) are held-out 300 K MD
              geometries too: the final member is scored on them as well, so a new
              round is measured before its own MD snapshots are labelled.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/gaas_mace_accuracy.py            # everything
    python benchmarks/gaas_mace_accuracy.py --stages report               # table only
    python benchmarks/gaas_mace_accuracy.py --label-order reversed        # a second labeller process
    python benchmarks/gaas_mace_accuracy.py --stages md --cells Ga_i As_i As_Ga   # MD split over processes

Work folders (default ``--out``/``work``, tracked in git like the formation study's,
because fresh checkouts drop ignored files and this run spans sessions): ``al/``
(the AL run, compact labels), and per final model ``check_round_RRR/`` (``md/``,
``snapshots.extxyz``, ``labels/``), so a model from a later AL round never mixes
with snapshots of an earlier one. Its ``.gitignore`` leaves out MACE logs and
compiled models; the latest training checkpoint of each member is tracked, so an
unfinished training resumes in a fresh checkout (a finished one keeps its
``mace.model``).

Two processes may label one folder (``--stages label --label-order reversed`` in
the second): each structure is claimed before it is computed, none is computed
twice, and each process waits for the other's claims before the report.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("al", "md", "snapshots", "label", "report")
TARGET_FORCE_RMSE = 20.0  # meV/Å, issue 6

log = logging.getLogger("gaas_mace_accuracy")


def final_member(al_work: Path) -> tuple[Path, list[Path], int]:
    """(final committee member, whole committee, round) of the AL run in ``al_work``."""
    from mlh_ipi.workflows.al_mace import final_committee

    committee, r = final_committee(al_work)
    return committee[-1], committee, r


def stage_md(starts: list[Atoms], model: Path, work: Path, steps: int) -> None:
    from mlh_ipi.lammps.md import run_md

    for at in starts:
        kind = at.info["defect"]
        folder = work / "md" / kind
        if (folder / "md_summary.json").exists():
            done = json.loads((folder / "md_summary.json").read_text())
            if done and done[0].get("final_step", 0) >= steps:
                continue
        t0 = time.perf_counter()
        run_md(ROOT / "lammps_inputs" / "md_nvt_langevin.in", [model], at, [300.0], steps, folder,
               seed=4242, threads=1, progress=True, variables={"dump_every": 50, "thermo_every": 50})
        log.info("MD %s: %d steps in %.0f s", kind, steps, time.perf_counter() - t0)


def stage_snapshots(starts: list[Atoms], work: Path, per_cell: int, skip_ps: float) -> Path:
    from mlh_ipi.lammps.analysis import frame_atoms, read_dump

    out = work / "snapshots.extxyz"
    if out.exists():
        return out
    frames = []
    for at in starts:
        kind = at.info["defect"]
        dump = read_dump(work / "md" / kind / "T300K" / "traj.lammpstrj")
        usable = [f for f in dump if f.step * 1e-3 >= skip_ps]  # 1 fs steps
        if len(usable) < per_cell:
            raise RuntimeError(f"{kind}: only {len(usable)} frames after {skip_ps} ps; run longer MD")
        pick = np.linspace(0, len(usable) - 1, per_cell).round().astype(int)
        for i in pick:
            snap = frame_atoms(usable[i], at.get_chemical_symbols())
            snap.info.update({"defect": kind, "md_step": snap.info.pop("step"), "temperature_K": 300.0})
            frames.append(snap)
    from mlh_ipi.atomic_io import atomic_path

    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")
    log.info("snapshots: %d frames (%d per cell)", len(frames), per_cell)
    return out


def stage_label(snapshots: Path, work: Path, settings, order: str) -> Path:
    from mlh_ipi.data.labelling import label_batch

    frames = read(snapshots, index=":")
    idx = list(range(len(frames)))
    rep = label_batch(frames, work / "labels", settings, source=str(snapshots),
                      order=idx[::-1] if order == "reversed" else idx, compact=True)
    log.info("labels: %s", rep.summary())
    return work / "labels"


def _errors(calc, frames, energies, forces) -> dict:
    from mlh_ipi.forcefield.errors import force_field_errors

    return force_field_errors(calc, frames, energies, forces)


def _snapshot_sets(out: Path, current_round: int) -> dict[str, Path]:
    """Every DFT-labelled snapshot file in ``out`` (``snapshots_*.extxyz``: ``snapshots_round_RRR``
    from the MD of round RRR's final member, or an earlier run's, e.g. ``snapshots_session8_round1``),
    this round's first."""
    mine = f"snapshots_round_{current_round:03d}.extxyz"
    paths = sorted(out.glob("snapshots_*.extxyz"), key=lambda p: (p.name != mine, p.name))
    return {("MD of this model" if p.name == mine else f"MD of an earlier model ({p.stem[10:]})"): p
            for p in paths}


def _read_labelled(path: Path):
    """Frames, energies (eV), forces (eV/Å) of a DFT-labelled snapshot file, each frame's
    ``defect`` set (from its info, or its composition for files written without it)."""
    from mlh_ipi.forcefield.export import read_reference
    from mlh_ipi.structures.gaas import defect_kind

    frames, energies, forces = read_reference(path)
    for f in frames:
        f.info.setdefault("defect", defect_kind(f))
    return frames, energies, forces


def _score(member, mean, frames, energies, forces) -> tuple[list[dict], dict, dict]:
    """Per-cell rows, and the five defect cells together for the member and the committee mean."""
    defect = [i for i, f in enumerate(frames) if f.info["defect"] != "pristine"]
    rows = []
    for kind in dict.fromkeys(f.info["defect"] for f in frames):
        sel = [i for i, f in enumerate(frames) if f.info["defect"] == kind]
        e = _errors(member, [frames[i] for i in sel], energies[sel], [forces[i] for i in sel])
        rows.append({"cell": kind, **e})
    pick = ([frames[i] for i in defect], energies[defect], [forces[i] for i in defect])
    return rows, _errors(member, *pick), _errors(mean, *pick)


def _table(rows: list[dict], total: dict, total_mean: dict) -> list[str]:
    lines = ["| cell | snapshots | E RMSE (meV/atom) | F RMSE (meV/Å) | F MAE (meV/Å) | DFT force RMS (meV/Å) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['cell']} | {r['n_structures']} | {r['energy_rmse_mev_per_atom']:.2f} | "
                     f"{r['force_rmse_mev_per_a']:.1f} | {r['force_mae_mev_per_a']:.1f} | "
                     f"{r['force_ref_rms_mev_per_a']:.0f} |")
    for name, t in (("five defect cells, final member", total), ("five defect cells, committee mean", total_mean)):
        lines.append(f"| **{name}** | {t['n_structures']} | {t['energy_rmse_mev_per_atom']:.2f} | "
                     f"**{t['force_rmse_mev_per_a']:.1f}** | {t['force_mae_mev_per_a']:.1f} | "
                     f"{t['force_ref_rms_mev_per_a']:.0f} |")
    return lines


def stage_report(work: Path, out: Path, model: Path, committee: list[Path], al_round: int,
                 al_work: Path) -> dict:
    """Errors of the final member on this check's snapshots (if labelled) and on earlier checks'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlh_ipi.atomic_io import save_figure, write_json, write_text
    from mlh_ipi.data.labelfile import label_files
    from mlh_ipi.forcefield.committee import load_mace
    from mlh_ipi.forcefield.export import export_labels

    if label_files(work / "labels"):
        # each frame's defect is read back from its composition (_read_labelled)
        export_labels([work / "labels"], out / f"snapshots_round_{al_round:03d}.extxyz")
    else:
        log.info("report: the round-%d check's snapshots are not labelled yet; scoring the earlier ones",
                 al_round)
    sets = _snapshot_sets(out, al_round)
    if not sets:
        raise RuntimeError(f"no labelled snapshots in {work / 'labels'} or {out}/snapshots_*.extxyz")
    member = load_mace([model])
    mean = load_mace(committee)
    al_curve = [json.loads(p.read_text()) for p in sorted(al_work.glob("round_*/errors.json"))]
    n_train = al_curve[-1]["n_train"] if al_curve else None
    result = {"model": str(model), "al_round": al_round, "committee": [str(p) for p in committee],
              "n_training_structures": n_train, "target_force_rmse_mev_per_a": TARGET_FORCE_RMSE,
              "snapshot_sets": {}, "al_learning_curve": al_curve}
    name_model = model.relative_to(ROOT) if model.is_relative_to(ROOT) else model
    lines = [f"Final committee member `{name_model}` (AL round {al_round}, {n_train} training structures) "
             "vs DFT on 300 K LAMMPS MD snapshots:"]
    parity = None
    for name, path in sets.items():
        frames, energies, forces = _read_labelled(path)
        rows, total, total_mean = _score(member, mean, frames, energies, forces)
        result["snapshot_sets"][name] = {"file": path.name, "per_cell": rows,
                                         "defect_cells_final_member": total,
                                         "defect_cells_committee_mean": total_mean}
        lines += ["", f"**{name}** (`{path.name}`):", "", *_table(rows, total, total_mean)]
        if parity is None:
            parity = (path.stem, frames, forces, total)
    first = next(iter(result["snapshot_sets"].values()))
    result.update(per_cell=first["per_cell"], defect_cells_final_member=first["defect_cells_final_member"],
                  defect_cells_committee_mean=first["defect_cells_committee_mean"])
    rmse = first["defect_cells_final_member"]["force_rmse_mev_per_a"]
    result["meets_target"] = bool(rmse <= TARGET_FORCE_RMSE)
    write_json(out / "results.json", result)
    lines += ["", f"Target force RMSE <= {TARGET_FORCE_RMSE:g} meV/Å on the defect cells "
              f"({next(iter(sets))}): {'met' if result['meets_target'] else 'NOT met'} ({rmse:.1f})."]
    if al_curve:
        lines += ["", "AL learning curve (committee mean on the fixed rattled test set):", "",
                  "| round | training structures | E RMSE (meV/atom) | F RMSE (meV/Å) | committee max F std (meV/Å) |",
                  "|---|---|---|---|---|"]
        for c in al_curve:
            lines.append(f"| {c['round']} | {c['n_train']} | {c['energy_rmse_mev_per_atom']:.2f} | "
                         f"{c['force_rmse_mev_per_a']:.1f} | {c.get('mean_max_force_std_mev_per_a', float('nan')):.1f} |")
    text = "\n".join(lines) + "\n"
    write_text(out / "results.md", text)
    print(text)

    name, frames, forces, total = parity  # parity plot of the first set
    fd, fm, col = [], [], []
    for i, f in enumerate(frames):
        at = Atoms(f.get_chemical_symbols(), positions=f.positions, cell=f.cell, pbc=True)
        at.calc = member
        fm.append(at.get_forces().ravel())
        fd.append(forces[i].ravel())
        col += [f.info["defect"]] * forces[i].size
    fd, fm, col = np.concatenate(fd), np.concatenate(fm), np.array(col)
    fig, ax = plt.subplots(figsize=(4.8, 4.5))
    for kind in dict.fromkeys(col):
        m = col == kind
        ax.scatter(fd[m], fm[m], s=3, alpha=0.5, label=kind)
    lim = np.abs(np.concatenate([fd, fm])).max() * 1.05
    ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xlabel("DFT force component (eV/Å)")
    ax.set_ylabel("MACE force component (eV/Å)")
    ax.set_title(f"GaAs 300 K MD, {name}\nround-{al_round} member: "
                 f"defect-cell F RMSE {total['force_rmse_mev_per_a']:.1f} meV/Å", fontsize=9)
    ax.legend(fontsize=7, markerscale=3)
    fig.tight_layout()
    save_figure(fig, out / "force_parity.png", dpi=130)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=ROOT / "examples" / "al_mace" / "gaas64_q3.toml")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    p.add_argument("--work", type=Path, default=None,
                   help="production-check folders (default OUT/work; the AL folder is the config's)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gaas_mace_accuracy")
    p.add_argument("--md-steps", type=int, default=3000, help="1 fs steps of production MD per cell")
    p.add_argument("--skip-ps", type=float, default=1.0, help="equilibration skipped before sampling")
    p.add_argument("--per-cell", type=int, default=2, help="snapshots per cell (6 cells)")
    p.add_argument("--label-order", choices=("forward", "reversed"), default="forward")
    p.add_argument("--cells", nargs="+", default=None,
                   help="MD stage only for these start cells (e.g. two processes, half each)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch/BLAS threads of this process (the AL stage uses the config's)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    from mlh_ipi.threads import configure_threads
    from mlh_ipi.workflows.al_mace import load_config, run_active_learning

    configure_threads(args.threads)
    cfg = load_config(args.config)
    al_work = cfg.path(cfg.workdir)
    args.out.mkdir(parents=True, exist_ok=True)
    starts = read(cfg.path(cfg.start.structures), index=":")
    if "al" in args.stages:
        run_active_learning(cfg, progress=True)
    model, committee, r = final_member(al_work)
    log.info("final committee member: %s (round %d)", model, r)
    work = ((args.work or args.out / "work") / f"check_round_{r:03d}").resolve()
    if "md" in args.stages:
        cells = [at for at in starts if args.cells is None or at.info["defect"] in args.cells]
        stage_md(cells, model, work, args.md_steps)
    if "snapshots" in args.stages:
        stage_snapshots(starts, work, args.per_cell, args.skip_ps)
    if "label" in args.stages:
        stage_label(work / "snapshots.extxyz", work, cfg.dft, args.label_order)
    if "report" in args.stages:
        stage_report(work, args.out, model, committee, r, al_work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
