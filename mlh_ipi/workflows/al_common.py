"""What the committee active-learning workflows share (:mod:`.al_mace`, :mod:`.al_mlh`).

Both run the same round loop over one work folder (:func:`run_rounds`):

1. **train** a committee on every label so far;
2. **evaluate** it on the fixed test set: one row per round in ``state["history"]``,
   written to ``learning_curve.csv`` (:func:`write_curve_csv`) and ``.png``
   (:func:`plot_curve`);
3. stop if the round is ``max_rounds``;
4. **select** (``explore`` in al-mace) the structures the committee is unsure
   of; its statistics join the round's row; nothing selected = converged, stop;
5. **label** them with DFT into ``labels/round_{r+1:03d}`` (resumable), then
   the next round.

The workflow supplies the stages (a :class:`RoundStages`); this module keeps
the bookkeeping: ``state.json`` (written atomically after every stage, with
the round, its finished stages and the history), ``config.json`` (the run's
configuration, :func:`check_config`), the label folders of a run
(:func:`training_label_dirs`, :func:`test_label_dirs`) and the learning curve.

File names in the work folder::

    WORK/config.json  state.json  learning_curve.csv  learning_curve.png
    WORK/labels/initial/  labels/test/  labels/round_001/ ...
    WORK/round_000/ ...
"""
from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ase import Atoms
from ase.io import read

from mlh_ipi.atomic_io import save_figure, write_json, write_text
from mlh_ipi.data.labelfile import label_files
from mlh_ipi.data.labelling import label_batch
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.workflows.toml_config import check_resume_config

log = logging.getLogger(__name__)

STATE = "state.json"
CONFIG = "config.json"
CURVE = "learning_curve"


class WorkdirPaths:
    """Path helpers of a config dataclass with ``workdir`` and ``base_dir`` fields.

    Relative paths in a config are resolved against ``base_dir`` (the config
    file's folder); ``work`` is the run's work folder.
    """

    workdir: str
    base_dir: str

    def path(self, p: str) -> Path:
        return (Path(self.base_dir) / p).resolve()

    @property
    def work(self) -> Path:
        return self.path(self.workdir)


def check_rounds(committee: int, max_rounds: int, members: str) -> None:
    """``ValueError`` unless the committee has at least 2 members (its spread is the
    uncertainty; ``members`` names them in the message) and ``max_rounds >= 0``."""
    if committee < 2:
        raise ValueError(f"committee must have at least 2 {members}, got {committee}")
    if max_rounds < 0:
        raise ValueError(f"max_rounds must be >= 0, got {max_rounds}")


# ---------------------------------------------------------------------------- folders and files

def round_dir(work: Path, r: int) -> Path:
    """``WORK/round_RRR``: what round ``r`` writes (committee, errors, selection)."""
    return work / f"round_{r:03d}"


def round_label_dir(work: Path, r: int) -> Path:
    """``WORK/labels/round_RRR``: the DFT labels selected in round ``r - 1``."""
    return work / "labels" / f"round_{r:03d}"


def _with_labels(dirs: Sequence[Path]) -> list[Path]:
    return [d for d in dirs if d.is_dir() and label_files(d)]


def training_label_dirs(work: Path, r: int, extra: Sequence[Path] = ()) -> list[Path]:
    """The label folders that hold labels for round ``r``'s training set.

    ``labels/initial``, then the ``extra`` folders (existing labels from the
    config), then ``labels/round_001`` .. ``labels/round_RRR``; folders
    without a label file are left out.
    """
    dirs = [work / "labels" / "initial", *extra]
    dirs += [round_label_dir(work, k) for k in range(1, r + 1)]
    return _with_labels(dirs)


def test_label_dirs(work: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """The label folders of the fixed test set: ``labels/test`` and the ``extra``
    folders from the config, those without a label file left out."""
    return _with_labels([work / "labels" / "test", *extra])


def read_structures(path: Path, what: str) -> list[Atoms]:
    """Every frame of the ASE-readable file ``path``, without calculators.

    ``FileNotFoundError`` (naming ``what``, e.g. ``"start structure"``) if the
    file is missing, ``ValueError`` if it holds no structure.
    """
    if not path.exists():
        raise FileNotFoundError(f"no such {what} file: {path}")
    frames = read(path, index=":")
    if not frames:
        raise ValueError(f"{path} holds no structures")
    for f in frames:
        f.calc = None
    return frames


def label_frames(frames: Sequence[Atoms], out: Path, dft: DFTSettings, source: str,
                 progress: bool, compact: bool = False) -> None:
    """DFT labels of ``frames`` into ``out`` (:func:`~mlh_ipi.data.labelling.label_batch`,
    resumable; ``compact`` files keep E, F and H only); structures that fail are logged
    and recorded in ``out/failures.jsonl``. The sibling label folders (earlier rounds,
    the test set) seed the SCF guesses."""
    earlier = sorted(p for p in out.parent.iterdir() if p.is_dir()) if out.parent.is_dir() else []
    report = label_batch(frames, out, dft, source=source, progress=progress, guess_from=earlier,
                         compact=compact)
    if report.failed:
        log.warning("%s: %d structures failed DFT (see %s/failures.jsonl)", out, len(report.failed), out)


# ---------------------------------------------------------------------------- state

def load_state(work: Path, **extra: Any) -> dict:
    """``WORK/state.json``, or the state of a new run: round 0, no stage done, empty
    history, plus the workflow's ``extra`` entries (e.g. ``selected={}``)."""
    path = work / STATE
    if path.exists():
        return json.loads(path.read_text())
    return {"round": 0, "done": [], "history": [], **extra, "finished": False, "reason": ""}


def start_run(cfg: Any, resumable: tuple[str, ...], **extra: Any) -> tuple[Path, dict]:
    """Create the work folder of ``cfg`` (a config with ``work`` and ``to_dict()``),
    check or record its configuration (:func:`check_config`) and load its state
    (:func:`load_state` with ``extra``); ``(work, state)``."""
    work = cfg.work
    work.mkdir(parents=True, exist_ok=True)
    check_config(work, cfg.to_dict(), resumable)
    return work, load_state(work, **extra)


def save_state(work: Path, state: dict) -> None:
    """Write ``WORK/state.json`` atomically."""
    write_json(work / STATE, state)


def check_config(work: Path, config: dict, resumable: tuple[str, ...]) -> None:
    """Refuse to resume ``work`` with another configuration than ``WORK/config.json``
    (only the keys in ``resumable`` may change); record ``config`` there."""
    check_resume_config(work / CONFIG, config, resumable)


def finish_preparation(work: Path, state: dict, training: Sequence[Path], test: Sequence[Path]) -> None:
    """Check that the initial labels (``training``) and the test set (``test``) are not
    empty, then mark the state ``prepared`` and save it."""
    if not training:
        raise RuntimeError("no initial labels (every DFT calculation failed?)")
    if not test:
        raise ValueError("empty test set: set test.count > 0 or test.labels")
    state["prepared"] = True
    save_state(work, state)


# ---------------------------------------------------------------------------- learning curve

def write_curve_csv(work: Path, history: Sequence[dict]) -> None:
    """``WORK/learning_curve.csv``: one row per round, columns in order of first
    appearance, floats with 6 significant digits (units in the column names);
    nothing for an empty history."""
    if not history:
        return
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    write_text(work / f"{CURVE}.csv", buf.getvalue())


@dataclass(frozen=True)
class CurvePlot:
    """How a workflow draws ``learning_curve.png`` (:func:`plot_curve`).

    panels : one ``(ylabel, lines)`` per panel, ``lines`` being ``(history key,
        legend label)`` pairs (a legend only for panels of more than one line;
        a round without the key is NaN, e.g. the selection statistics of the
        last round).
    title : the figure title.
    annotate : ``(panel, key)``: each point of ``key`` in that panel is labelled
        with the round's ``n_train``.
    log_y : logarithmic y axes.
    """

    panels: Sequence[tuple[str, Sequence[tuple[str, str | None]]]]
    title: str
    annotate: tuple[int, str]
    log_y: bool = False


def plot_curve(work: Path, history: Sequence[dict], plot: CurvePlot) -> None:
    """``WORK/learning_curve.png``: the panels of ``plot`` against the round;
    nothing for an empty history."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rounds = [row["round"] for row in history]
    fig, axes = plt.subplots(1, len(plot.panels), figsize=(11, 3.4))
    for ax, (ylabel, lines) in zip(axes, plot.panels):
        for key, label in lines:
            ax.plot(rounds, [row.get(key, float("nan")) for row in history], "o-", label=label)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if plot.log_y:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    panel, key = plot.annotate
    for r, row in zip(rounds, history):
        axes[panel].annotate(f"n={row['n_train']}", (r, row[key]), textcoords="offset points",
                             xytext=(3, 5), fontsize=7)
    fig.suptitle(plot.title)
    fig.tight_layout()
    save_figure(fig, work / f"{CURVE}.png", dpi=120)


def write_curve(work: Path, history: Sequence[dict], plot: CurvePlot) -> None:
    """``learning_curve.csv`` (:func:`write_curve_csv`) and ``learning_curve.png``
    (:func:`plot_curve`) of ``history``."""
    write_curve_csv(work, history)
    plot_curve(work, history, plot)


# ---------------------------------------------------------------------------- loop

class RoundStages:
    """The stages of one workflow's round, called by :func:`run_rounds`.

    A workflow subclasses it and implements :meth:`train`, :meth:`evaluate`,
    :meth:`select`, :meth:`selection` and :meth:`converged_reason`; ``cfg``
    (with the ``dft`` settings), ``work`` and ``progress`` (progress bars) are
    stored. Class attributes: ``name`` (e.g. ``"al-mace"``, in the labels'
    source), ``select_stage`` (the selection stage's name in
    ``state["done"]``) and ``curve`` (the learning-curve plot).
    """

    name: str
    select_stage = "select"
    curve: CurvePlot

    def __init__(self, cfg: Any, work: Path, progress: bool) -> None:
        self.cfg, self.work, self.progress = cfg, work, progress

    def train(self, r: int) -> Any:
        """Train round ``r``'s committee (returning at once when already trained); the committee."""
        raise NotImplementedError

    def evaluate(self, r: int, committee: Any) -> dict:
        """Round ``r``'s learning-curve row (with ``round`` and ``n_train``)."""
        raise NotImplementedError

    def select(self, r: int, committee: Any) -> dict:
        """Choose and record round ``r``'s selection; statistics added to its row."""
        raise NotImplementedError

    def selection(self, r: int) -> list[Atoms]:
        """The structures selected in round ``r`` (empty: converged)."""
        raise NotImplementedError

    def converged_reason(self, r: int) -> str:
        """The state's ``reason`` when round ``r`` selected nothing."""
        raise NotImplementedError

    def label(self, r: int, frames: list[Atoms], out: Path) -> None:
        """DFT labels of round ``r``'s selection ``frames`` into ``out`` (resumable)."""
        label_frames(frames, out, self.cfg.dft, f"{self.name} round {r} selection", self.progress,
                     compact=self.cfg.compact_labels)

    def write_curve(self, history: list[dict]) -> None:
        """``learning_curve.csv`` and ``.png`` of ``history``."""
        write_curve(self.work, history, self.curve)


def run_rounds(work: Path, state: dict, max_rounds: int, stages: RoundStages) -> dict:
    """Run (or resume) the rounds from ``state`` (after the initial labels); return the final state.

    Every finished stage is recorded in ``state["done"]`` and saved at once, so a
    rerun skips it; round r's row of ``state["history"]`` is replaced by a new
    evaluation. The loop ends after evaluating round ``max_rounds``, when nothing is selected
    or when every DFT label of a selection failed (``state["reason"]``).
    """
    def mark(stage: str) -> None:
        state["done"].append(stage)
        save_state(work, state)

    state["finished"] = False
    while True:
        r = state["round"]
        done = state["done"]
        committee = stages.train(r)
        if "train" not in done:
            mark("train")
        if "evaluate" not in done:
            state["history"] = [h for h in state["history"] if h["round"] != r]
            state["history"].append(stages.evaluate(r, committee))
            mark("evaluate")
            stages.write_curve(state["history"])
        if r >= max_rounds:
            state.update(finished=True, reason=f"reached max_rounds = {max_rounds}")
            break
        if stages.select_stage not in done:
            stats = stages.select(r, committee)
            next(h for h in state["history"] if h["round"] == r).update(stats)
            mark(stages.select_stage)
            stages.write_curve(state["history"])
        frames = stages.selection(r)
        if not frames:
            state.update(finished=True, reason=stages.converged_reason(r))
            break
        out = round_label_dir(work, r + 1)
        if "label" not in done:
            stages.label(r, frames, out)
            mark("label")
        if not label_files(out):
            state.update(finished=True, reason=f"every DFT label of round {r}'s selection failed")
            break
        state.update(round=r + 1, done=[])
        save_state(work, state)
    save_state(work, state)
    stages.write_curve(state["history"])
    return state
