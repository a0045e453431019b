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

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path, write_json
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.forcefield.committee import load_mace
from mlh_ipi.forcefield.deviation import flag_uncertain
from mlh_ipi.forcefield.errors import force_field_errors
from mlh_ipi.forcefield.explore import committee_md
from mlh_ipi.forcefield.export import export_labels, read_reference
from mlh_ipi.forcefield.mace_training import MACETrainingSettings, is_trained, model_path, train_committee
from mlh_ipi.strict import from_mapping
from mlh_ipi.structures.rattle import rattle
from mlh_ipi.workflows import al_common as common
from mlh_ipi.workflows.al_common import RoundStages, WorkdirPaths, round_dir
from mlh_ipi.workflows.toml_config import read_toml

log = logging.getLogger(__name__)

STATE, CONFIG, CURVE = common.STATE, common.CONFIG, common.CURVE
STAGES = ("train", "evaluate", "explore", "label")
# may change between runs of one work folder (start.labels may only grow: _check_added_labels)
RESUMABLE_CHANGES = ("max_rounds", "threads", "compact_labels", "start.labels")


@dataclass(frozen=True)
class StartConfig:
    """Where the loop starts.

    structures : ASE-readable file (relative to the config file) of start
        structures: a relaxed host, defect cells, or classical-potential MD
        snapshots (``mlh-ipi build``). Exploration MD starts from these, in turn.
    count : rattled snapshots labelled for the first training set, drawn from
        the start structures in turn (Gaussian, ``rattle_std`` Å, ``seed``).
    labels : existing label folders added to every training set (same DFT settings).
        The list may grow when a run is resumed (e.g. with the DFT labels of another
        active learning on the same cells): the added folders join the training sets
        of the rounds not yet trained; trained rounds keep their ``train.extxyz``.
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
class ALConfig(WorkdirPaths):
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
    compact_labels: bool = False  # label files keep E, F and H only (~10x smaller; data/labelfile.py)
    base_dir: str = "."  # folder relative paths are resolved against (the config file's)

    def __post_init__(self) -> None:
        common.check_rounds(self.committee, self.max_rounds, "models for a deviation")
        if self.start.count < 2:
            raise ValueError("start.count must be >= 2 (mace needs a training and a validation structure)")
        if self.selection.force_std_threshold >= self.selection.force_std_max:
            raise ValueError("selection.force_std_threshold must be below force_std_max")

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


# ---------------------------------------------------------------------------- stages

def _start_structures(cfg: ALConfig) -> list[Atoms]:
    return common.read_structures(cfg.path(cfg.start.structures), "start structure")


def _rattled(frames: list[Atoms], count: int, std: float, seed: int) -> list[Atoms]:
    """``count`` Gaussian-rattled snapshots (``std`` Å); snapshot k comes from ``frames[k % n]``."""
    out = []
    for k in range(count):
        snap = rattle(frames[k % len(frames)], std, seed=np.random.default_rng([seed, k]))
        snap.info["snapshot"] = k
        out.append(snap)
    return out


def _training_label_dirs(cfg: ALConfig, work: Path, round_: int) -> list[Path]:
    return common.training_label_dirs(work, round_, [cfg.path(p) for p in cfg.start.labels])


def _test_label_dirs(cfg: ALConfig, work: Path) -> list[Path]:
    return common.test_label_dirs(work, [cfg.path(p) for p in cfg.test.labels])


_CURVE = common.CurvePlot(
    panels=[("energy RMSE (meV/atom)", [("energy_rmse_mev_per_atom", None)]),
            ("force RMSE (meV/Å)", [("force_rmse_mev_per_a", None)]),
            ("test-set committee\nmax force std (meV/Å)", [("mean_max_force_std_mev_per_a", None)])],
    title="MACE committee on the fixed test set (n = training structures)",
    annotate=(1, "force_rmse_mev_per_a"), log_y=True)


def _train(cfg: ALConfig, work: Path, r: int, progress: bool) -> list[Path]:
    rdir = round_dir(work, r)
    train_file = rdir / "train.extxyz"
    if not train_file.exists():
        export_labels(_training_label_dirs(cfg, work, r), train_file)
    return train_committee(train_file, rdir / "committee", cfg.mace, cfg.committee,
                           seed=cfg.mace_seed, threads=cfg.threads, progress=progress)


def _evaluate(cfg: ALConfig, work: Path, r: int, models: list[Path]) -> dict:
    rdir = round_dir(work, r)
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

    rdir = round_dir(work, r)
    starts = _start_structures(cfg)
    calc = load_mace(models, device=cfg.mace.device, default_dtype=cfg.mace.default_dtype)
    temperature = cfg.md.temperature(r)
    candidates: list[Atoms] = []
    for t in tqdm(range(cfg.md.trajectories), desc=f"round {r} MD ({temperature:.0f} K)",
                  unit="traj", disable=not progress):
        done = _trajectory_path(rdir, t)
        if done.exists():  # finished before an interruption: the seeded MD would repeat it exactly
            candidates.extend(_read_trajectory(done))
            continue
        start = starts[t % len(starts)]
        frames = committee_md(calc, start, temperature_k=temperature, steps=cfg.md.steps,
                              sample_every=cfg.md.sample_every, timestep_fs=cfg.md.timestep_fs,
                              friction_per_fs=cfg.md.friction_per_fs,
                              seed=cfg.md.seed + 1000 * r + t, stop_above=cfg.selection.force_std_max)
        for frame, _ in frames:
            frame.info.update({"round": r, "trajectory": t})
        _write_trajectory(done, [frame for frame, _ in frames])
        candidates.extend(frame for frame, _ in frames)
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


def _trajectory_path(rdir: Path, t: int) -> Path:
    """Per-trajectory checkpoint of a round's exploration: its sampled frames (extxyz)."""
    return rdir / "explore" / f"trajectory_{t:03d}.extxyz"


def _write_trajectory(path: Path, frames: list[Atoms]) -> None:
    """Write the frames atomically; an MD stopped before its first sample leaves an empty file."""
    with atomic_path(path, suffix=".extxyz") as tmp:  # creates the folder
        if frames:
            write(tmp, frames, format="extxyz")


def _read_trajectory(path: Path) -> list[Atoms]:
    return read(path, index=":", format="extxyz") if path.stat().st_size else []


# ---------------------------------------------------------------------------- loop

class _Stages(RoundStages):
    """al-mace's round: MACE committee, ASE Langevin exploration, selection in ``selected.extxyz``."""

    name = "al-mace"
    select_stage = "explore"
    curve = _CURVE

    def train(self, r: int) -> list[Path]:
        return _train(self.cfg, self.work, r, self.progress)

    def evaluate(self, r: int, committee: list[Path]) -> dict:
        return _evaluate(self.cfg, self.work, r, committee)

    def select(self, r: int, committee: list[Path]) -> dict:
        return _explore(self.cfg, self.work, r, committee, self.progress)

    def selection(self, r: int) -> list[Atoms]:
        return read(round_dir(self.work, r) / "selected.extxyz", index=":")

    def converged_reason(self, r: int) -> str:
        return (f"converged: no MD frame above "
                f"{1e3 * self.cfg.selection.force_std_threshold:.0f} meV/Å in round {r}")


def final_committee(work: str | Path) -> tuple[list[Path], int]:
    """``(models, round)``: the committee of the last trained round of the AL run in ``work``.

    The last member (``models[-1]``) is "the final committee member" that production MD uses.
    """
    work = Path(work)
    state = json.loads((work / STATE).read_text()) if (work / STATE).exists() else {}
    rounds = sorted(work.glob("round_*/committee"))
    for rdir in reversed(rounds):
        r = int(rdir.parent.name.split("_")[1])
        if "round" in state and r > int(state["round"]):
            continue
        members = sorted(rdir.glob("member_*"))
        if len(members) >= 2 and all(is_trained(m) for m in members):
            return [model_path(m) for m in members], r
    raise FileNotFoundError(f"no trained MACE committee in {work}; run the active learning first")


def _check_added_labels(cfg: ALConfig) -> None:
    """On resume, ``start.labels`` may only grow: ``ValueError`` if a recorded folder was removed
    or reordered (the training sets of the rounds trained so far were built from them)."""
    recorded = cfg.work / CONFIG
    if not recorded.exists():
        return
    old = list(json.loads(recorded.read_text()).get("start", {}).get("labels", []))
    new = list(cfg.to_dict()["start"]["labels"])
    if new[:len(old)] != old:
        raise ValueError(f"{cfg.work}: start.labels may only grow on resume (append folders); "
                         f"recorded {old}, given {new}")
    if len(new) > len(old):
        log.info("start.labels: %d folder(s) added; they join the training sets from the next round "
                 "trained on: %s", len(new) - len(old), new[len(old):])


def run_active_learning(cfg: ALConfig, progress: bool = True) -> dict:
    """Run (or resume) the loop; return the final state (``history``: one dict per round)."""
    _check_added_labels(cfg)
    work, state = common.start_run(cfg, RESUMABLE_CHANGES)

    if not state.get("prepared"):
        starts = _start_structures(cfg)
        log.info("labelling %d initial and %d test snapshots", cfg.start.count, cfg.test.count)
        common.label_frames(_rattled(starts, cfg.start.count, cfg.start.rattle_std, cfg.start.seed),
                            work / "labels" / "initial", cfg.dft, "al-mace initial snapshots", progress,
                            compact=cfg.compact_labels)
        if cfg.test.count:
            common.label_frames(_rattled(starts, cfg.test.count, cfg.test.rattle_std, cfg.test.seed),
                                work / "labels" / "test", cfg.dft, "al-mace test snapshots", progress,
                                compact=cfg.compact_labels)
        common.finish_preparation(work, state, _training_label_dirs(cfg, work, 0),
                                  _test_label_dirs(cfg, work))

    state = common.run_rounds(work, state, cfg.max_rounds, _Stages(cfg, work, progress))
    log.info("active learning finished after round %d: %s", state["round"], state["reason"])
    return state
