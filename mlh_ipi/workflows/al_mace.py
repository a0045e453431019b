"""Active learning of a MACE force field with a committee (``mlh-ipi al-mace CONFIG``).

One round r = 0, 1, ...:

1. **train**: export every DFT label so far (initial snapshots, ``start.labels``,
   the labels of rounds 1..r) to ``round_RRR/train.extxyz`` and train a
   committee of ``committee`` MACE models with seeds ``mace_seed + k``
   (mace-torch's ``mace_run_train``, :mod:`mlh_ipi.forcefield.mace_training`);
2. **evaluate**: energy/force errors of the committee mean on the fixed test
   set, appended to ``learning_curve.csv``/``.png``;
3. stop if r == ``max_rounds``;
4. **explore**: short Langevin MD (ASE, committee-mean forces) from the start
   structures at this round's temperature; every sampled frame gets its max
   committee force deviation (:mod:`mlh_ipi.forcefield.deviation`);
5. **select**: frames with deviation above ``selection.force_std_threshold``
   (default 10 meV/Å) and below ``selection.force_std_max``, at most
   ``max_new_per_round``, evenly spread in time; none flagged = converged, stop;
6. **label**: DFT labels of the selected frames into ``labels/round_{r+1}``
   (:func:`mlh_ipi.data.labelling.label_batch`, resumable), then round r+1.

Exploration MD here is ASE Langevin with the committee-mean calculator on the
small cells of an AL study; production MD with the final model runs in LAMMPS
(``mlh_ipi.lammps``).

Resume: ``state.json`` (written atomically after every stage) records the
round and the finished stages; a rerun continues where it stopped, and each
stage resumes internally (MACE from its latest checkpoint, labelling per
structure). ``config.json`` keeps the configuration of the run; a rerun with a
different configuration is an error except for ``max_rounds`` (raise it to
extend a finished run) and ``threads``.

Folder layout::

    WORK/config.json  state.json  learning_curve.csv  learning_curve.png
    WORK/labels/initial/  labels/test/  labels/round_001/ ...
    WORK/round_000/train.extxyz  committee/member_k/mace.model  errors.json
    WORK/round_000/candidates.extxyz  selected.extxyz
"""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path, write_json, write_text
from mlh_ipi.data.labelfile import label_files
from mlh_ipi.data.labelling import label_batch
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.forcefield.committee import load_mace
from mlh_ipi.forcefield.deviation import flag_uncertain
from mlh_ipi.forcefield.errors import force_field_errors
from mlh_ipi.forcefield.explore import committee_md
from mlh_ipi.forcefield.export import export_labels, read_reference
from mlh_ipi.forcefield.mace_training import MACETrainingSettings, train_committee
from mlh_ipi.strict import from_mapping
from mlh_ipi.structures.rattle import rattle
from mlh_ipi.workflows.toml_config import check_resume_config, read_toml

log = logging.getLogger(__name__)

STATE = "state.json"
CONFIG = "config.json"
CURVE = "learning_curve"
STAGES = ("train", "evaluate", "explore", "label")
# may change between runs of one work folder
RESUMABLE_CHANGES = ("max_rounds", "threads")


@dataclass(frozen=True)
class StartConfig:
    """Where the loop starts.

    structures : ASE-readable file (relative to the config file) of start
        structures: a relaxed host, defect cells, or classical-potential MD
        snapshots (``mlh-ipi build``). Exploration MD starts from these, in turn.
    count : rattled snapshots labelled for the first training set, drawn from
        the start structures in turn (Gaussian, ``rattle_std`` Å, ``seed``).
    labels : existing label folders added to every training set (same DFT settings).
    """

    structures: str
    count: int = 8
    rattle_std: float = 0.05
    seed: int = 0
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestSetConfig:
    """The fixed test set of the learning curve: ``count`` rattled snapshots
    (``rattle_std`` Å, ``seed``) of the start structures, labelled once, plus any
    label folders in ``labels`` (e.g. DFT-labelled MD snapshots)."""

    count: int = 4
    rattle_std: float = 0.08
    seed: int = 1000
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class MDConfig:
    """Exploration MD per round: ``trajectories`` Langevin runs of ``steps`` steps.

    temperatures_k : temperature of round r is ``temperatures_k[min(r, len-1)]`` (K),
        so a list ramps the temperature over the rounds.
    timestep_fs : fs; friction_per_fs : Langevin friction in 1/fs;
    sample_every : steps between frames scored by the committee.
    """

    temperatures_k: tuple[float, ...] = (300.0,)
    steps: int = 200
    sample_every: int = 10
    timestep_fs: float = 1.0
    friction_per_fs: float = 0.01
    trajectories: int = 2
    seed: int = 0

    def temperature(self, round_: int) -> float:
        return float(self.temperatures_k[min(round_, len(self.temperatures_k) - 1)])


@dataclass(frozen=True)
class SelectionConfig:
    """force_std_threshold : eV/Å, frames above it are labelled (default 10 meV/Å).
    force_std_max : eV/Å, frames above it are discarded as unphysical and end their trajectory.
    max_new_per_round : cap on new labels per round."""

    force_std_threshold: float = 0.010
    force_std_max: float = 1.0
    max_new_per_round: int = 10


@dataclass(frozen=True)
class ALConfig:
    """The whole active-learning configuration (TOML; see examples/al_mace/)."""

    workdir: str
    start: StartConfig
    dft: DFTSettings = field(default_factory=DFTSettings)
    test: TestSetConfig = field(default_factory=TestSetConfig)
    md: MDConfig = field(default_factory=MDConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    mace: MACETrainingSettings = field(default_factory=MACETrainingSettings)
    committee: int = 4
    mace_seed: int = 0
    max_rounds: int = 3
    threads: int = 1
    base_dir: str = "."  # folder relative paths are resolved against (the config file's)

    def __post_init__(self) -> None:
        if self.committee < 2:
            raise ValueError(f"committee must have at least 2 models for a deviation, got {self.committee}")
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {self.max_rounds}")
        if self.start.count < 2:
            raise ValueError("start.count must be >= 2 (mace needs a training and a validation structure)")
        if self.selection.force_std_threshold >= self.selection.force_std_max:
            raise ValueError("selection.force_std_threshold must be below force_std_max")

    def path(self, p: str) -> Path:
        return (Path(self.base_dir) / p).resolve()

    @property
    def work(self) -> Path:
        return self.path(self.workdir)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dft"] = self.dft.to_dict()
        d["mace"] = self.mace.to_dict()
        d.pop("base_dir")
        return json.loads(json.dumps(d))  # tuples -> lists, as in config.json


_SECTIONS = {"start": StartConfig, "test": TestSetConfig, "md": MDConfig,
             "selection": SelectionConfig}
_TUPLES = {"labels", "temperatures_k"}


def config_from_dict(d: Mapping[str, Any], base_dir: str | Path = ".") -> ALConfig:
    """Build an :class:`ALConfig`; ``ValueError`` for unknown keys or sections."""
    d = dict(d)
    if "start" not in d:
        raise ValueError("config needs a [start] section with 'structures'")
    for name, cls in _SECTIONS.items():
        if name in d:
            sec = {k: (tuple(v) if k in _TUPLES and isinstance(v, list) else v)
                   for k, v in dict(d[name]).items()}
            if name == "md" and isinstance(sec.get("temperatures_k"), (int, float)):
                sec["temperatures_k"] = (float(sec["temperatures_k"]),)
            d[name] = from_mapping(cls, sec, f"[{name}] key")
    if "dft" in d:
        d["dft"] = DFTSettings.from_dict(d["dft"])
    if "mace" in d:
        m = dict(d["mace"])
        if "extra_args" in m:
            m["extra_args"] = tuple(m["extra_args"])
        d["mace"] = MACETrainingSettings.from_dict(m)
    return from_mapping(ALConfig, {**d, "base_dir": str(base_dir)}, "active-learning config key")


def load_config(path: str | Path) -> ALConfig:
    """Read a TOML config; relative paths in it are relative to the file's folder."""
    return config_from_dict(read_toml(path), base_dir=Path(path).resolve().parent)


# ---------------------------------------------------------------------------- state

def _load_state(work: Path) -> dict:
    path = work / STATE
    if path.exists():
        return json.loads(path.read_text())
    return {"round": 0, "done": [], "history": [], "finished": False, "reason": ""}


def _save_state(work: Path, state: dict) -> None:
    write_json(work / STATE, state)


def _check_config(work: Path, cfg: ALConfig) -> None:
    check_resume_config(work / CONFIG, cfg.to_dict(), RESUMABLE_CHANGES)


# ---------------------------------------------------------------------------- stages

def _start_structures(cfg: ALConfig) -> list[Atoms]:
    path = cfg.path(cfg.start.structures)
    if not path.exists():
        raise FileNotFoundError(f"no such start structure file: {path}")
    frames = read(path, index=":")
    if not frames:
        raise ValueError(f"{path} holds no structures")
    for f in frames:
        f.calc = None
    return frames


def _rattled(frames: list[Atoms], count: int, std: float, seed: int) -> list[Atoms]:
    """``count`` Gaussian-rattled snapshots (``std`` Å); snapshot k comes from ``frames[k % n]``."""
    out = []
    for k in range(count):
        snap = rattle(frames[k % len(frames)], std, seed=np.random.default_rng([seed, k]))
        snap.info["snapshot"] = k
        out.append(snap)
    return out


def _label(frames: list[Atoms], out: Path, cfg: ALConfig, source: str, progress: bool) -> None:
    report = label_batch(frames, out, cfg.dft, source=source, progress=progress)
    if report.failed:
        log.warning("%s: %d structures failed DFT (see %s/failures.jsonl)", out, len(report.failed), out)


def _training_label_dirs(cfg: ALConfig, work: Path, round_: int) -> list[Path]:
    dirs = [work / "labels" / "initial"] + [cfg.path(p) for p in cfg.start.labels]
    dirs += [work / "labels" / f"round_{r:03d}" for r in range(1, round_ + 1)]
    return [d for d in dirs if d.is_dir() and label_files(d)]


def _test_label_dirs(cfg: ALConfig, work: Path) -> list[Path]:
    dirs = [work / "labels" / "test"] + [cfg.path(p) for p in cfg.test.labels]
    return [d for d in dirs if d.is_dir() and label_files(d)]


def _write_curve(work: Path, history: list[dict]) -> None:
    """``learning_curve.csv`` (one row per round) and ``learning_curve.png``."""
    if not history:
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(work / f"{CURVE}.csv", buf.getvalue())

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rounds = [row["round"] for row in history]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    panels = [("energy_rmse_mev_per_atom", "energy RMSE (meV/atom)"),
              ("force_rmse_mev_per_a", "force RMSE (meV/Å)"),
              ("mean_max_force_std_mev_per_a", "test-set committee\nmax force std (meV/Å)")]
    for ax, (key, label) in zip(axes, panels):
        ax.plot(rounds, [row.get(key, float("nan")) for row in history], "o-")
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    for r, row in zip(rounds, history):
        axes[1].annotate(f"n={row['n_train']}", (r, row["force_rmse_mev_per_a"]),
                         textcoords="offset points", xytext=(3, 5), fontsize=7)
    fig.suptitle("MACE committee on the fixed test set (n = training structures)")
    fig.tight_layout()
    with atomic_path(work / f"{CURVE}.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def _train(cfg: ALConfig, work: Path, r: int, progress: bool) -> list[Path]:
    rdir = work / f"round_{r:03d}"
    train_file = rdir / "train.extxyz"
    if not train_file.exists():
        export_labels(_training_label_dirs(cfg, work, r), train_file)
    return train_committee(train_file, rdir / "committee", cfg.mace, cfg.committee,
                           seed=cfg.mace_seed, threads=cfg.threads, progress=progress)


def _evaluate(cfg: ALConfig, work: Path, r: int, models: list[Path]) -> dict:
    rdir = work / f"round_{r:03d}"
    test_file = work / "test.extxyz"
    if not test_file.exists():
        export_labels(_test_label_dirs(cfg, work), test_file)
    frames, energies, forces = read_reference(test_file)
    calc = load_mace(models, device=cfg.mace.device, default_dtype=cfg.mace.default_dtype)
    errors = force_field_errors(calc, frames, energies, forces)
    n_train = len(read(rdir / "train.extxyz", index=":"))
    row = {"round": r, "n_train": n_train, **errors}
    write_json(rdir / "errors.json", row)
    log.info("round %d: %d training structures, test energy RMSE %.2f meV/atom, force RMSE %.1f meV/Å",
             r, n_train, errors["energy_rmse_mev_per_atom"], errors["force_rmse_mev_per_a"])
    return row


def _explore(cfg: ALConfig, work: Path, r: int, models: list[Path], progress: bool) -> dict:
    """Committee MD from the start structures; write candidates and the selection; return stats."""
    from tqdm.auto import tqdm

    rdir = work / f"round_{r:03d}"
    starts = _start_structures(cfg)
    calc = load_mace(models, device=cfg.mace.device, default_dtype=cfg.mace.default_dtype)
    temperature = cfg.md.temperature(r)
    candidates: list[Atoms] = []
    for t in tqdm(range(cfg.md.trajectories), desc=f"round {r} MD ({temperature:.0f} K)",
                  unit="traj", disable=not progress):
        start = starts[t % len(starts)]
        frames = committee_md(calc, start, temperature_k=temperature, steps=cfg.md.steps,
                              sample_every=cfg.md.sample_every, timestep_fs=cfg.md.timestep_fs,
                              friction_per_fs=cfg.md.friction_per_fs,
                              seed=cfg.md.seed + 1000 * r + t, stop_above=cfg.selection.force_std_max)
        for frame, _ in frames:
            frame.info.update({"round": r, "trajectory": t})
            candidates.append(frame)
    scores = [f.info["max_force_std"] for f in candidates]
    sel = cfg.selection
    picked = flag_uncertain(scores, sel.force_std_threshold, sel.force_std_max, sel.max_new_per_round)
    n_flagged = len(flag_uncertain(scores, sel.force_std_threshold, sel.force_std_max))
    n_discarded = sum(s > sel.force_std_max for s in scores)
    with atomic_path(rdir / "candidates.extxyz", suffix=".extxyz") as tmp:
        write(tmp, candidates, format="extxyz")
    with atomic_path(rdir / "selected.extxyz", suffix=".extxyz") as tmp:
        write(tmp, [candidates[i] for i in picked], format="extxyz")
    stats = {"md_temperature_k": temperature, "n_candidates": len(candidates),
             "n_flagged": n_flagged, "n_discarded": n_discarded, "n_selected": len(picked),
             "max_candidate_force_std_mev_per_a": 1e3 * max(scores) if scores else float("nan")}
    log.info("round %d: %d MD frames, %d above %.0f meV/Å (%d discarded above %.0f meV/Å), %d selected",
             r, len(candidates), n_flagged, 1e3 * sel.force_std_threshold, n_discarded,
             1e3 * sel.force_std_max, len(picked))
    return stats


# ---------------------------------------------------------------------------- loop

def run_active_learning(cfg: ALConfig, progress: bool = True) -> dict:
    """Run (or resume) the loop; return the final state (``history``: one dict per round)."""
    work = cfg.work
    work.mkdir(parents=True, exist_ok=True)
    _check_config(work, cfg)
    state = _load_state(work)

    if not state.get("prepared"):
        starts = _start_structures(cfg)
        log.info("labelling %d initial and %d test snapshots", cfg.start.count, cfg.test.count)
        _label(_rattled(starts, cfg.start.count, cfg.start.rattle_std, cfg.start.seed),
               work / "labels" / "initial", cfg, "al-mace initial snapshots", progress)
        if cfg.test.count:
            _label(_rattled(starts, cfg.test.count, cfg.test.rattle_std, cfg.test.seed),
                   work / "labels" / "test", cfg, "al-mace test snapshots", progress)
        if not _training_label_dirs(cfg, work, 0):
            raise RuntimeError("no initial labels (every DFT calculation failed?)")
        if not _test_label_dirs(cfg, work):
            raise ValueError("empty test set: set test.count > 0 or test.labels")
        state["prepared"] = True
        _save_state(work, state)

    state["finished"] = False
    while True:
        r = state["round"]
        done = state["done"]
        rdir = work / f"round_{r:03d}"
        models = _train(cfg, work, r, progress)  # returns at once when already trained
        if "train" not in done:
            done.append("train")
            _save_state(work, state)
        if "evaluate" not in done:
            state["history"] = [h for h in state["history"] if h["round"] != r]
            state["history"].append(_evaluate(cfg, work, r, models))
            done.append("evaluate")
            _save_state(work, state)
            _write_curve(work, state["history"])
        if r >= cfg.max_rounds:
            state.update(finished=True, reason=f"reached max_rounds = {cfg.max_rounds}")
            break
        if "explore" not in done:
            stats = _explore(cfg, work, r, models, progress)
            next(h for h in state["history"] if h["round"] == r).update(stats)
            done.append("explore")
            _save_state(work, state)
            _write_curve(work, state["history"])
        selected = read(rdir / "selected.extxyz", index=":")
        if not selected:
            state.update(finished=True, reason=f"converged: no MD frame above "
                         f"{1e3 * cfg.selection.force_std_threshold:.0f} meV/Å in round {r}")
            break
        if "label" not in done:
            _label(selected, work / "labels" / f"round_{r + 1:03d}", cfg,
                   f"al-mace round {r} selection", progress)
            done.append("label")
            _save_state(work, state)
        if not label_files(work / "labels" / f"round_{r + 1:03d}"):
            state.update(finished=True, reason=f"every DFT label of round {r}'s selection failed")
            break
        state.update(round=r + 1, done=[])
        _save_state(work, state)
    _save_state(work, state)
    _write_curve(work, state["history"])
    log.info("active learning finished after round %d: %s", state["round"], state["reason"])
    return state
