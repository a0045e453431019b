"""GaAs native point defects end to end: structures -> MACE AL -> MACE MD pool -> MLH AL -> MD + stream -> DFT check.

One command, every stage resumable (rerun it after an interruption; finished
stages are skipped, unfinished ones continue)::

    OMP_NUM_THREADS=1 python examples/gaas_defects/run.py                  # all stages
    python examples/gaas_defects/run.py --stages md dftcheck report          # some stages

Stages (work folder ``runs/gaas_defects`` by default, git-ignored):

``structures``  pristine GaAs and the five neutral native defects (V_Ga, V_As, Ga_i,
                As_i, As_Ga) in 64-atom cells (``mlh_ipi.structures.gaas``);
                ``info["defect_atoms"]`` = the defect atom and its first shell
                (vacancy: the four dangling-bond neighbours), used for level picking.
``mace``        committee active learning of the MACE force field
                (``examples/al_mace/gaas64_q3.toml``, ``mlh-ipi al-mace``; its work
                folder ``benchmarks/results/gaas_mace_accuracy/work/al`` is shared with
                ``benchmarks/gaas_mace_accuracy.py``, so neither redoes the other's
                labels); the final committee member drives every MD below.
``pool``        LAMMPS + MACE NVT MD (``lammps_inputs/md_nvt_langevin.in``) per cell at
                100, 300 and 500 K; ``--snapshots`` frames per (defect, T) after
                ``--pool-skip`` steps: the candidate pool of the MLH AL (as in the
                study: MLH training structures come from MLFF MD).
``al``          MLH committee active learning (``mlh-ipi al-mlh``,
                ``mlh_ipi.workflows.al_mlh``): held-out test set spread over the
                (defect, T) groups, k-means initial set, rounds balanced over groups;
                the MACE AL labels (same DFT settings) join every training set.
                ``--mlh-baseline harris``: the MLH learns ΔH = H − H_0 on the Harris
                baseline (``mlh_ipi.dft.harris``), one potential build per cell.
                ``--mlh-eigenvalue-weight W``: adds the band-edge eigenvalue term
                (states within ``--mlh-eigenvalue-window`` eV of the edges, shift-free).
``md``          production LAMMPS + MACE MD at 100, 300, 500 K per defect with the
                on-the-fly MLH stream (``mlh_ipi.stream.run.stream_md``): gap,
                band edges and defect levels per snapshot, statistics per T. Band
                edges by host state count for pristine, As_Ga and As_i
                (``--level-picking``), defect levels up to ``--level-resonance``
                eV outside the gap kept and flagged resonant.
``dftcheck``    DFT labels of ``--check-per-group`` streamed snapshots per (cell, T)
                for ``--check-cells`` (default pristine, As_Ga, As_i) and MLH - DFT
                errors of gap, band edges and lowest in-gap level per snapshot
                (``mlh_ipi.stream.dft_check``).
``transfer``    (not in the default stages) the same MD + stream + DFT check on
                ``--transfer-atoms`` (216) cells of ``--check-cells`` at 300 K with
                the 64-atom-trained models: size transfer.
``report``      tables and plots across defects (``results/``): gap vs T and levels
                vs T, pristine GaAs as the control, the DFT check.

DFT setting (one source: the ``[dft]`` table of the MACE config): PBE, Ga with 3d in
the core (``gth-pbe-q3``), As ``gth-pbe`` (5 e), GTH-SZV basis (Ga s+p+d, As s+p),
80 Ha density grid (forces within 0.1 meV/Å of 300 Ha, BENCHMARKS.md 1c), Γ point,
Fermi-Dirac smearing 0.1 eV. Smearing is needed because four of the six neutral
cells (V_Ga, V_As, Ga_i, As_i) have an odd number of electrons and the labels are
spin-restricted; the half-filled defect level then gets occupation 1. One 64-atom
label costs ~2.5 min on one core.

Until 2026-11-22 this example used the 13-electron Ga potential at 60 Ha, where
the forces were grid noise (r.m.s. 12-14 eV/Å) and the MD had to run on a MACE
fitted to the classical BOP potential; that setting and workaround are gone.
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

from mlh_ipi.atomic_io import atomic_path, save_figure, write_json, write_text

log = logging.getLogger("gaas_defects")

DEFECTS = ("pristine", "V_Ga", "V_As", "Ga_i", "As_i", "As_Ga")
TEMPERATURES = (100.0, 300.0, 500.0)
MACE_CONFIG = ROOT / "examples" / "al_mace" / "gaas64_q3.toml"
MD_SCRIPT = ROOT / "lammps_inputs" / "md_nvt_langevin.in"
STAGES = ("structures", "mace", "pool", "al", "md", "dftcheck", "transfer", "report")
DEFAULT_STAGES = ("structures", "mace", "pool", "al", "md", "dftcheck", "report")  # transfer: ~hours of DFT


# ---------------------------------------------------------------------------- stages

def _structure(kind: str, n_atoms: int):
    """The builder's defect cell with ``info["defect_atoms"]`` (absent for pristine: IPR picking)."""
    from mlh_ipi.structures.gaas import defect_neighbourhood, gaas_defect

    at = gaas_defect(kind, n_atoms)
    if kind != "pristine":
        at.info["defect_atoms"] = defect_neighbourhood(at)
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


def dft_settings(args):
    """The DFT settings of every GaAs label: the ``[dft]`` table of the MACE AL config."""
    from mlh_ipi.workflows.al_mace import load_config

    return load_config(args.mace_config).dft


def stage_mace(args) -> tuple[Path, Path]:
    """MACE committee AL (resumable, shared work folder); returns (final member, AL work folder)."""
    from mlh_ipi.workflows.al_mace import final_committee, load_config, run_active_learning

    cfg = load_config(args.mace_config)
    run_active_learning(cfg, progress=True)
    committee, r = final_committee(cfg.work)
    log.info("MACE: final committee member %s (AL round %d)", committee[-1], r)
    return committee[-1], cfg.work


def _mace_labels(args) -> list[Path]:
    """Label folders of the MACE AL (same DFT settings): extra MLH training data."""
    from mlh_ipi.workflows.al_mace import load_config

    work = load_config(args.mace_config).work / "labels"
    return sorted(p for p in work.glob("*") if p.is_dir() and p.name != "test")


def stage_pool(work: Path, args, mace_model: Path) -> Path:
    """LAMMPS + MACE MD per (cell, T); ``--snapshots`` frames per (defect, T) after ``--pool-skip``."""
    from ase.io import read, write

    from mlh_ipi.lammps.analysis import dump_atoms
    from mlh_ipi.lammps.md import run_md

    out = work / "pool.extxyz"
    if out.exists():
        return out
    frames = []
    for d, at in enumerate(read(work / "structures.extxyz", index=":")):
        kind = at.info["defect"]
        at.info.pop("defect_atoms", None)
        folder = work / "pool_md" / kind
        run_md(MD_SCRIPT, [mace_model], at, TEMPERATURES, args.pool_steps, folder, seed=777 + d,
               threads=1, analyse=False, variables={"dump_every": 10, "thermo_every": 50})
        for t in TEMPERATURES:
            for snap in dump_atoms(folder / f"T{t:g}K" / "traj.lammpstrj", at.get_chemical_symbols(),
                                   first_step=args.pool_skip, count=args.snapshots):
                snap.info.update({"defect": kind, "temperature_K": float(t), "md_step": snap.info.pop("step")})
                frames.append(snap)
    with atomic_path(out, suffix=".extxyz") as tmp:
        write(tmp, frames, format="extxyz")
    log.info("pool: %d MD snapshots (%d cells x %d temperatures x %d)", len(frames), len(DEFECTS),
             len(TEMPERATURES), args.snapshots)
    return out


def _held_out_pool_indices(files: list[Path]) -> list[int]:
    """``info["pool_index"]`` of every frame in ``files`` (frames of the pool kept for another check)."""
    from ase.io import read

    out = set()
    for f in files:
        for at in read(f, ":"):
            if "pool_index" not in at.info:
                raise ValueError(f"{f}: a frame without info['pool_index']; --al-hold-out takes pool frames")
            out.add(int(at.info["pool_index"]))
    return sorted(out)


def al_config(work: Path, args) -> dict:
    return {
        "workdir": "al", "pool": "pool.extxyz", "group_keys": ["defect", "temperature_K"],
        "committee": 2, "max_rounds": args.al_rounds, "warm_start": args.mlh_warm_start,
        # E, F and H only (~0.5 instead of 5.6 MB per 64-atom label; S and D recomputed on read)
        "compact_labels": True,
        "initial": {"count": args.initial, "r_max": 6.0, "bin_width": 0.1, "smearing": 0.1, "seed": 0,
                    "labels": [str(p) for p in _mace_labels(args)]},
        "test": {"count": args.test, "seed": 1000},
        "selection": {"per_round": args.per_round, "threshold_ev": 0.0,
                      "exclude": _held_out_pool_indices(args.al_hold_out)},
        "dft": dft_settings(args).to_dict(),
        "model": {"cutoff_h": 6.0, "cutoff_mp": 4.0, "num_layers": 2, "num_basis": 8, "radial_hidden": 32,
                  **({"baseline": "harris"} if args.mlh_baseline == "harris" else {})},
        "training": {"epochs": args.epochs, "lr": 1e-2, "batch_size": 1, "split": [0.9, 0.1, 0.0],
                     "early_stopping_patience": 15,
                     # H_0 of every label, shared by the rounds and members (one potential build each)
                     **({"baseline_cache": str(work / "al" / "harris_h0")} if args.mlh_baseline == "harris"
                        else {}),
                     **({"eigenvalue_weight": args.mlh_eigenvalue_weight,
                         "eigenvalue_window_ev": args.mlh_eigenvalue_window, "eigenvalue_shift_free": True}
                        if args.mlh_eigenvalue_weight > 0 else {})},
    }


def _toml(d: dict) -> str:
    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if v is None:
            raise ValueError("TOML has no null")
        return repr(v)

    def table(name: str, sec: dict) -> list[str]:
        return ["", f"[{name}]"] + [f"{k} = {val(v)}" for k, v in sec.items()
                                    if v is not None and not isinstance(v, dict)]

    lines = [f"{k} = {val(v)}" for k, v in d.items() if not isinstance(v, dict)]
    for k, v in d.items():
        if isinstance(v, dict):
            lines += table(k, v)
    return "\n".join(lines) + "\n"


def stage_al(work: Path, args) -> dict:
    from mlh_ipi.workflows.al_mlh import load_config, run_active_learning

    path = work / "al_mlh.toml"
    text = "# written by examples/gaas_defects/run.py; rerun: mlh-ipi al-mlh " + str(path) + "\n"
    text += _toml(al_config(work, args))
    if not path.exists() or path.read_text() != text:
        write_text(path, text)
    return run_active_learning(load_config(path), progress=True)


def _level_picking(at, args) -> dict:
    """``find_defect_levels`` options of a cell (in the builder's atom order) and its MD frames.

    ``--level-picking host-count`` (default): band edges by the count of states below the host
    gap for the kinds checked on DFT labels (pristine, As_Ga, As_i; ``mlh_ipi.structures.gaas``),
    with defect states up to ``--level-resonance`` eV outside the gap reported as resonant;
    the other kinds, and ``occupation``, take the edges from occupation with no window."""
    from mlh_ipi.dft.cell import valence_electrons
    from mlh_ipi.structures.gaas import level_picking

    da = [int(i) for i in np.atleast_1d(at.info.get("defect_atoms", []))] or None
    picking = {"defect_atoms": da, "valence_states": None, "resonance_ev": 0.0}
    if args.level_picking == "host-count":
        symbols = at.get_chemical_symbols()
        counted = level_picking(at.info["defect"], symbols, valence_electrons(symbols, dft_settings(args)),
                                args.level_resonance)
        if counted["valence_states"] is not None:
            picking.update(valence_states=counted["valence_states"], resonance_ev=counted["resonance_ev"])
    return picking


def _stream_runs(structures, md_root: Path, committee: Path, mace_model: Path, temperatures, steps: int,
                 every: int, args, skip_steps: int = 0) -> None:
    """LAMMPS + MACE MD with the MLH stream per cell into ``md_root/<defect>``."""
    from mlh_ipi.stream.run import stream_md

    for at in structures:
        picking = _level_picking(at, args)
        at = at.copy()
        kind = at.info["defect"]
        at.info.pop("defect_atoms", None)
        t0 = time.perf_counter()
        stream_md(MD_SCRIPT, [mace_model], at, temperatures, steps, md_root / kind, committee,
                  every=every, type_map=None, defect=kind, defect_atoms=picking["defect_atoms"], workers=0,
                  maxsize=64, policy="block", checkpoint_every_s=30.0, seed=12345, threads=1,
                  variables={"dump_every": every, "thermo_every": every},
                  valence_states=picking["valence_states"], resonance_ev=picking["resonance_ev"],
                  skip_steps=skip_steps)
        log.info("MD + stream %s (%d atoms): %.0f s", kind, len(at), time.perf_counter() - t0)


def stage_md(work: Path, args, mace_model: Path) -> None:
    from ase.io import read

    cells = [a for a in read(work / "structures.extxyz", index=":") if a.info["defect"] in args.md_cells]
    _stream_runs(cells, work / "md", _stream_model(work, args), mace_model, TEMPERATURES, args.md_steps,
                 args.md_every, args, skip_steps=args.md_skip)


def _stream_model(work: Path, args) -> Path:
    """``--mlh`` when given, else the MLH AL's final committee."""
    return args.mlh if args.mlh is not None else _committee(work)


def _committee(work: Path) -> Path:
    state = json.loads((work / "al" / "state.json").read_text())
    return work / "al" / f"round_{int(state['round']):03d}" / "committee"


def _dft_check(structures, md_root: Path, check_root: Path, args, temperatures, per_group: int,
               committee: Path | None = None, tag: str = "dftcheck") -> dict:
    """DFT labels of ``per_group`` streamed snapshots per (cell, T) after ``--check-skip`` steps,
    and the per-snapshot MLH - DFT errors (``check_root/<defect>/dft_check.*``).

    Each SCF starts from the density of the MLH ``committee``'s mean H when given
    (:mod:`mlh_ipi.density_guess`; the converged DFT result does not depend on the start,
    the cycle count does; each label records ``info["scf_guess"]`` and its cycles)."""
    from mlh_ipi.data.labelfile import label_files
    from mlh_ipi.data.labelling import label_batch
    from mlh_ipi.density_guess import mlh_density_guess
    from mlh_ipi.lammps.analysis import dump_atoms
    from mlh_ipi.stream.dft_check import write_dft_check
    from mlh_ipi.stream.workers import read_snapshot_log

    settings = dft_settings(args)
    guess = None if committee is None else mlh_density_guess(committee, settings)
    summary = {}
    for at in structures:
        kind = at.info["defect"]
        picking = _level_picking(at, args)
        stream_dir = md_root / kind / "stream"
        records = read_snapshot_log(stream_dir)
        frames = []
        for t in temperatures:
            src = f"T{t:g}K"
            steps = sorted(r["step"] for r in records if r["source"] == src and r["step"] > args.check_skip)
            if len(steps) < per_group:
                raise RuntimeError(f"{kind} {src}: {len(steps)} streamed snapshots after step "
                                   f"{args.check_skip}, {per_group} wanted")
            pick = [steps[i] for i in np.linspace(0, len(steps) - 1, per_group).round().astype(int)]
            for snap in dump_atoms(md_root / kind / src / "traj.lammpstrj", at.get_chemical_symbols(),
                                   steps=pick):
                snap.info.update({"stream_source": src, "defect": kind, "temperature_K": float(t)})
                if picking["defect_atoms"]:
                    snap.info["defect_atoms"] = picking["defect_atoms"]
                if picking["valence_states"] is not None:
                    snap.info["valence_states"] = picking["valence_states"]
                    snap.info["level_resonance_ev"] = picking["resonance_ev"]
                frames.append(snap)
        labels = check_root / kind / "labels"
        label_batch(frames, labels, settings, source=f"{kind} streamed MD snapshots", density_guess=guess)
        # the DFT side picks as the stream did, also for labels made before the picking was recorded
        summary[kind] = write_dft_check(stream_dir, label_files(labels), out_dir=check_root / kind,
                                        model=committee, level_picking=picking)  # also at DFT's own states
        level = summary[kind]["level0_below_cbm"]["mae"]
        matched = summary[kind].get("band_gap_matched", {}).get("mae")
        log.info("DFT check %s (%d atoms): gap MAE %.0f meV (at DFT's states %s meV), CBM - level0 MAE %s meV "
                 "over %d snapshots", kind, len(at), 1e3 * summary[kind]["band_gap"]["mae"],
                 _fmt(None if matched is None else 1e3 * matched, ".0f"),
                 _fmt(None if level is None else 1e3 * level, ".0f"), summary[kind]["n_labels"])
    write_json(check_root / "summary.json", summary)
    if args.mace_check_out is not None:
        _export_300k_for_mace(check_root, args.mace_check_out, tag)
    return summary


def _export_300k_for_mace(check_root: Path, out_dir: Path, tag: str) -> Path | None:
    """The 300 K DFT-checked snapshots (energies, forces) as one more held-out set of 300 K
    production-MD snapshots for the MACE accuracy check (issue 6), written to
    ``out_dir/snapshots_gaas_onthefly_<tag>_300K.extxyz``: ``benchmarks/gaas_mace_accuracy.py``
    scores its final member on every ``snapshots_*.extxyz`` in its results folder. These
    snapshots come from this study's LAMMPS MD, never from a MACE training set."""
    from mlh_ipi.data.labelfile import label_files, read_label_geometry
    from mlh_ipi.forcefield.export import export_labels

    files = [f for d in sorted(check_root.glob("*/labels")) for f in label_files(d)
             if float(read_label_geometry(f).info.get("temperature_K", -1.0)) == 300.0]
    if not files:
        return None
    out = Path(out_dir) / f"snapshots_gaas_onthefly_{tag}_300K.extxyz"
    export_labels(files, out)
    log.info("%d DFT-checked 300 K snapshots written for the MACE accuracy check: %s", len(files), out)
    return out


def stage_dftcheck(work: Path, args) -> dict:
    from ase.io import read

    cells = [a for a in read(work / "structures.extxyz", index=":") if a.info["defect"] in args.check_cells]
    return _dft_check(cells, work / "md", work / "dftcheck", args, TEMPERATURES, args.check_per_group,
                      committee=_stream_model(work, args))


def stage_transfer(work: Path, args, mace_model: Path) -> dict:
    """Size transfer: the 64-atom-trained MACE and MLH on ``--transfer-atoms`` cells at 300 K,
    streamed, and MLH vs DFT on ``--transfer-per-cell`` snapshots per cell."""
    cells = [_structure(kind, args.transfer_atoms) for kind in args.check_cells]
    root = work / f"transfer_{args.transfer_atoms}"
    mlh = args.transfer_mlh or _committee(work)
    log.info("transfer: MLH %s streams the %d-atom cells", mlh, args.transfer_atoms)
    _stream_runs(cells, root / "md", mlh, mace_model, (300.0,), args.transfer_steps,
                 args.transfer_every or args.md_every, args)
    return _dft_check(cells, root / "md", root / "dftcheck", args, (300.0,), args.transfer_per_cell,
                      committee=mlh, tag=f"transfer_{args.transfer_atoms}")


def stage_report(work: Path, args) -> list[Path]:
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
            if kind == "pristine":
                continue
            # levels by character, all relative to the VBM; the CBM (the gap) dashed in the same colour
            colour = None
            for key, sign, offset, marker, what in (
                    ("gap_level_above_vbm", 1.0, 0.0, "o", "in gap"),
                    ("vb_level_below_vbm", -1.0, 0.0, "v", "resonant in VB"),
                    ("cb_level_above_cbm", 1.0, 1.0, "^", "resonant in CB")):
                pts = [(r["temperature_k"], sign * r[f"{key}_mean"] + offset * r["band_gap_mean"],
                        r.get(f"{key}_std") or 0) for r in mine if r.get(f"{key}_mean") is not None]
                if pts:
                    eb = axes[1].errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                                          marker=marker, capsize=3, color=colour, label=f"{kind} ({what})")
                    colour = eb[0].get_color()
            if colour is not None:
                axes[1].plot(t, [r["band_gap_mean"] for r in mine], ls="--", lw=0.8, color=colour)
        if not axes[1].lines:
            axes[1].text(0.5, 0.5, "no defect level picked", ha="center", va="center",
                         transform=axes[1].transAxes)
        axes[1].axhline(0.0, color="k", lw=0.8)
        axes[0].set_ylabel("host-like band gap (eV)")
        axes[1].set_ylabel("defect level $-$ VBM (eV); dashed: CBM")
        for ax in axes:
            ax.set_xlabel("temperature (K)")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
        fig.suptitle("MLH on LAMMPS+MACE MD snapshots (bars: thermal std); pristine = control")
        fig.tight_layout()
        save_figure(fig, res / "gap_levels_vs_temperature.png", dpi=120)
        written.append(res / "gap_levels_vs_temperature.png")
    for name in ("learning_curve.csv", "learning_curve.png"):
        src = work / "al" / name
        if src.exists():
            with atomic_path(res / name) as tmp:
                tmp.write_bytes(src.read_bytes())
            written.append(res / name)
    from mlh_ipi.workflows.al_mace import load_config

    mace_work = load_config(args.mace_config).work
    for name in ("learning_curve.csv", "learning_curve.png"):
        src = mace_work / name
        if src.exists():
            with atomic_path(res / f"mace_{name}") as tmp:
                tmp.write_bytes(src.read_bytes())
            written.append(res / f"mace_{name}")
    for kind in args.check_cells:
        for name in ("dft_check.csv", "dft_check_gap.png"):
            src = work / "dftcheck" / kind / name
            if src.exists():
                with atomic_path(res / f"dftcheck_{kind}_{name}") as tmp:
                    tmp.write_bytes(src.read_bytes())
                written.append(res / f"dftcheck_{kind}_{name}")
    written.append(_summary_markdown(work, res, rows, mace_work))
    for p in written:
        log.info("wrote %s", p)
    return written


def _stream_settings(md_root: Path) -> str:
    """Model and band-edge rule of the streams under ``md_root`` (from their checkpoints)."""
    seen = []
    for path in sorted(md_root.glob("*/stream/checkpoint.json")):
        meta = json.loads(path.read_text())["meta"]
        edges = "edges by state count" if meta.get("valence_states") else "edges by occupation"
        item = f"model `{meta.get('model')}`, {edges}"
        if meta.get("valence_states") and meta.get("resonance_ev"):
            item += f", resonance window {meta['resonance_ev']:g} eV"
        if item not in seen:
            seen.append(item)
    return "; ".join(seen) or "no stream checkpoint"


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def _summary_markdown(work: Path, res: Path, rows: list[dict], mace_work: Path) -> Path:
    """``results/summary.md``: MACE and MLH learning curves, gap/levels per (defect, T), DFT check."""
    lines = ["# GaAs defects: gap and defect levels vs temperature (examples/gaas_defects/run.py)", ""]
    mace_rounds = sorted(mace_work.glob("round_*/errors.json"))
    if mace_rounds:
        lines += ["MACE committee AL (committee mean on its fixed rattled test set):", "",
                  "| round | n_train | E RMSE (meV/atom) | F RMSE (meV/Å) | ref F RMS (meV/Å) |", "|---|---|---|---|---|"]
        for path in mace_rounds:
            e = json.loads(path.read_text())
            lines.append(f"| {e['round']} | {e['n_train']} | {e['energy_rmse_mev_per_atom']:.2f} | "
                         f"{e['force_rmse_mev_per_a']:.1f} | {e['force_ref_rms_mev_per_a']:.0f} |")
        lines.append("")
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
    if rows:
        lines += [f"MLH on LAMMPS+MACE MD snapshots ({_stream_settings(work / 'md')}); "
                  "± = thermal std over snapshots (eV):", "",
                  "| defect | T (K) | n | gap | VBM | CBM | levels / snapshot (in gap) | level0 − VBM | CBM − level0 | level0 resonant | committee gap std |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['defect']} | {r['temperature_k']:g} | {r['n_snapshots']} | "
                f"{_fmt(r['band_gap_mean'])} ± {_fmt(r['band_gap_std'])} | {_fmt(r['vbm_mean'])} | "
                f"{_fmt(r['cbm_mean'])} | {_fmt(r['n_levels_mean'], '.2f')} ({_fmt(r.get('n_in_gap_mean'), '.2f')}) | "
                f"{_fmt(r.get('level0_above_vbm_mean'))} ± {_fmt(r.get('level0_above_vbm_std'))} | "
                f"{_fmt(r.get('level0_below_cbm_mean'))} | {_fmt(r.get('level0_resonant_fraction'), '.0%')} | "
                f"{_fmt(r.get('band_gap_committee_std_mean'))} |")
        lines.append("")
        lines += ["Defect levels by character (eV, mean ± thermal std over the snapshots that have one, count):",
                  "", "| defect | T (K) | lowest in-gap level − VBM | highest VB-resonant: VBM − level | "
                  "lowest CB-resonant: level − CBM |", "|---|---|---|---|---|"]
        for r in rows:
            cells = [f"{_fmt(r.get(f'{q}_mean'))} ± {_fmt(r.get(f'{q}_std'))} ({r.get(f'{q}_n', 0)})"
                     if r.get(f"{q}_n") else "-"
                     for q in ("gap_level_above_vbm", "vb_level_below_vbm", "cb_level_above_cbm")]
            lines.append(f"| {r['defect']} | {r['temperature_k']:g} | " + " | ".join(cells) + " |")
        lines.append("")
    checks = [(work / "dftcheck" / "summary.json", "64-atom cells, 100/300/500 K")]
    checks += [(p / "dftcheck" / "summary.json", f"{p.name.split('_')[1]}-atom cells, 300 K (size transfer)")
               for p in sorted(work.glob("transfer_*"))]
    for check, what in checks:
        if not check.exists():
            continue
        summary = json.loads(check.read_text())
        lines += ["", f"MLH vs DFT on streamed MD snapshots, {what} ({_stream_settings(check.parent.parent / 'md')}; "
                  "same frames; MAE in meV):", "",
                  "| cell | snapshots | gap MAE | VBM MAE | CBM MAE | level0 − VBM MAE | CBM − level0 MAE |",
                  "|---|---|---|---|---|---|---|"]
        for kind, sm in summary.items():
            cells = [_fmt(None if sm[q]["mae"] is None else 1e3 * sm[q]["mae"], ".0f")
                     for q in ("band_gap", "vbm", "cbm", "level0_above_vbm", "level0_below_cbm")]
            lines.append(f"| {kind} | {sm['n_labels']} | " + " | ".join(cells) + " |")
    path = res / "summary.md"
    write_text(path, "\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=ROOT / "runs" / "gaas_defects")
    p.add_argument("--stages", nargs="+", choices=STAGES, default=list(DEFAULT_STAGES))
    p.add_argument("--atoms", type=int, default=64, choices=(64, 128, 216), help="host supercell size")
    p.add_argument("--mace-config", type=Path, default=MACE_CONFIG,
                   help="MACE AL config; its [dft] table is the DFT setting of every label")
    p.add_argument("--mace-model", type=Path, default=None,
                   help="MACE model for the MD stages instead of the AL's final member (e.g. a finished "
                        "round's member while the AL goes on in another process); the AL is not run")
    p.add_argument("--snapshots", type=int, default=6, help="pool snapshots per (defect, T)")
    p.add_argument("--pool-steps", type=int, default=1000, help="pool MD steps per (cell, T), 1 fs")
    p.add_argument("--pool-skip", type=int, default=400, help="pool MD equilibration steps not sampled")
    p.add_argument("--test", type=int, default=6, help="held-out test structures")
    p.add_argument("--initial", type=int, default=12, help="k-means initial training structures")
    p.add_argument("--per-round", type=int, default=6, help="new labels per AL round")
    p.add_argument("--mlh-warm-start", action="store_true",
                   help="MLH AL rounds after round 0 continue each committee member from its previous "
                        "round instead of training afresh (may be switched on while the AL runs)")
    p.add_argument("--al-hold-out", type=Path, nargs="*", default=[],
                   help="extxyz files of pool frames (info['pool_index']) that the MLH AL must never "
                        "select, e.g. benchmarks/results/gaas_md_check/frames.extxyz")
    p.add_argument("--al-rounds", type=int, default=2, help="AL rounds after round 0")
    p.add_argument("--epochs", type=int, default=60, help="MLH training epochs per member")
    p.add_argument("--mlh-baseline", choices=("none", "harris"), default="none",
                   help="'harris': the MLH learns H - H_0 (mlh_ipi.dft.harris), more accurate, and every "
                        "label, test cell and streamed snapshot pays one potential build for H_0 "
                        "(~19 s of one core per 64-atom cell); may be switched until the AL's first "
                        "committee is trained")
    p.add_argument("--mlh-eigenvalue-weight", type=float, default=0.0,
                   help="> 0: the MLH loss adds this times the MAE of the eigenvalues near the gap "
                        "(objective in meV: H MAE + W x eigenvalue MAE; mlh_ipi.model.training)")
    p.add_argument("--mlh-eigenvalue-window", type=float, default=1.0,
                   help="eV below the VBM / above the CBM that the eigenvalue term sees")
    p.add_argument("--md-steps", type=int, default=1500, help="MD steps per temperature (1 fs)")
    p.add_argument("--md-every", type=int, default=50, help="stream a snapshot every N steps")
    p.add_argument("--md-skip", type=int, default=0,
                   help="MD steps of equilibration whose snapshots the stream does not count")
    p.add_argument("--md-cells", nargs="+", default=list(DEFECTS), choices=DEFECTS,
                   help="cells of the md stage (default all six)")
    p.add_argument("--mlh", type=Path, default=None,
                   help="MLH checkpoint or committee folder that streams the md stage (and is checked by "
                        "dftcheck) instead of the AL's final committee, e.g. a fine-tuned model of record")
    p.add_argument("--level-picking", choices=("host-count", "occupation"), default="host-count",
                   help="band edges of the streamed and DFT-checked frames: by the count of states below "
                        "the host gap for pristine, As_Ga and As_i (default; As_i's donor electrons fill "
                        "the CBM state, which occupation would call the VBM), or by occupation for every "
                        "cell (streams made before 2026-12-06; a stream folder keeps the picking it began with)")
    p.add_argument("--level-resonance", type=float, default=1.0,
                   help="with host-count edges: also report defect states up to this many eV outside the "
                        "gap, flagged resonant (As_i's p levels above the CBM, As_Ga's A1 below the VBM)")
    p.add_argument("--check-cells", nargs="+", default=["pristine", "As_Ga", "As_i"], choices=DEFECTS)
    p.add_argument("--check-per-group", type=int, default=4, help="DFT-checked snapshots per (cell, T)")
    p.add_argument("--check-skip", type=int, default=300, help="MD steps before the checked snapshots")
    p.add_argument("--mace-check-out", type=Path, default=None,
                   help="also write the 300 K DFT-checked snapshots (E, F) here as snapshots_*.extxyz, a "
                        "held-out set for benchmarks/gaas_mace_accuracy.py (its results folder)")
    p.add_argument("--transfer-atoms", type=int, default=216, choices=(128, 216),
                   help="cell size of the transfer check (stage 'transfer', not in the default stages)")
    p.add_argument("--transfer-steps", type=int, default=800, help="300 K MD steps of the transfer cells")
    p.add_argument("--transfer-per-cell", type=int, default=2, help="DFT-checked snapshots per transfer cell")
    p.add_argument("--transfer-every", type=int, default=None,
                   help="stream stride of the transfer MD (default --md-every)")
    p.add_argument("--transfer-mlh", type=Path, default=None,
                   help="MLH checkpoint or committee folder that streams the transfer cells (default the "
                        "AL's final committee). The DFT labels it leaves in transfer_<N>/dftcheck/*/labels "
                        "do not depend on it: 'mlh-ipi eval-h MODEL <that folder>' scores any model on them")
    args = p.parse_args(argv)
    if args.mace_model is not None and not args.mace_model.is_file():
        p.error(f"--mace-model {args.mace_model}: no such file")
    if args.mlh is not None and not args.mlh.exists():
        p.error(f"--mlh {args.mlh}: no such file or folder")
    if args.transfer_mlh is not None and not args.transfer_mlh.exists():
        p.error(f"--transfer-mlh {args.transfer_mlh}: no such file or folder")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    import torch

    torch.set_num_threads(1)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    mace_model = None
    for stage in STAGES:
        if stage not in args.stages:
            continue
        t0 = time.perf_counter()
        log.info("=== stage %s", stage)
        if stage in ("pool", "md", "transfer") and mace_model is None:
            # --mace-model: a given force field; else the AL resumes, or returns its final model at once
            mace_model = args.mace_model or stage_mace(args)[0]
        if stage == "structures":
            stage_structures(work, args.atoms)
        elif stage == "mace":
            if args.mace_model:
                log.info("MACE: --mace-model %s given, the AL is not run here", args.mace_model)
                mace_model = args.mace_model
            else:
                mace_model = stage_mace(args)[0]
        elif stage == "pool":
            stage_pool(work, args, mace_model)
        elif stage == "al":
            state = stage_al(work, args)
            log.info("AL: %s", state["reason"])
        elif stage == "md":
            log.info("MD force field: %s", mace_model)
            stage_md(work, args, mace_model)
        elif stage == "dftcheck":
            stage_dftcheck(work, args)
        elif stage == "transfer":
            stage_transfer(work, args, mace_model)
        elif stage == "report":
            stage_report(work, args)
        path = work / "stage_times.json"  # re-read: another process may run other stages on this folder
        times = json.loads(path.read_text()) if path.exists() else {}
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - t0
        write_json(path, times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
