"""Active learning of the Hamiltonian model with a committee (``mlh-ipi al-mlh CONFIG``).

The protocol of the GaAs defect study, over a fixed **pool** of candidate
structures (e.g. rattled / thermal snapshots of several defects at several
temperatures, ``atoms.info`` carrying the group keys, by default ``defect`` and
``temperature_k``):

0. **prepare**: hold out ``test.count`` pool structures (round-robin over the
   groups, seeded) as the fixed test set and label them; choose the initial
   training set by **k-means on structure descriptors** and label it.
   Descriptor (:func:`structure_descriptor`): for every element pair (A, B) the
   per-atom radial distribution of A-B distances up to ``r_max`` Å, Gaussian
   smeared (``smearing`` Å) on a grid of ``bin_width`` Å, from ASE neighbour
   lists (periodic, minimum image not needed). Columns are standardised,
   ``scipy.cluster.vq.kmeans2`` (k-means++, fixed ``seed``) clusters the pool
   into ``initial.count`` clusters, and the structure nearest each centroid is
   picked (:func:`kmeans_pick`).
1. **train**: a committee of ``committee`` models (seeds ``training.seed + k``)
   on every label so far (:func:`mlh_ipi.model.training.train_committee`; each
   round trains afresh, an interrupted round resumes from its checkpoints);
2. **evaluate**: committee mean vs the test labels (H^Gamma MAE, shift-aligned
   H MAE, host-like gap MAE, :func:`mlh_ipi.evaluation.evaluate_labels`) into
   ``learning_curve.csv``/``.png``;
3. stop if r == ``max_rounds``;
4. **score**: committee uncertainty of every unlabelled pool structure =
   max over H^Gamma elements of the std over members (eV,
   :func:`committee_uncertainty`), written to ``round_RRR/uncertainty.csv``;
5. **select**: ``selection.per_round`` structures **balanced across groups**
   (:func:`balanced_selection`: round-robin over the groups, highest
   uncertainty first within a group, only above ``selection.threshold_ev``);
   none above the threshold = converged, stop;
6. **label** them into ``labels/round_{r+1}`` (:func:`label_batch`, resumable),
   then round r+1.

Resume: ``state.json`` (atomic) records the held-out, initial and per-round
selected pool indices, the round and its finished stages; rerunning continues
where it stopped. ``config.json`` keeps the configuration; a rerun with another
configuration is an error except for ``max_rounds`` (raise it to extend).

Folder layout::

    WORK/config.json  state.json  learning_curve.csv  learning_curve.png
    WORK/descriptors.npz             pool descriptors (k-means input)
    WORK/labels/test/  labels/initial/  labels/round_001/ ...
    WORK/round_000/committee/member_XX/best.pt  evaluation.json  uncertainty.csv
"""
from __future__ import annotations

import csv
import io
import json
import logging
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Hashable, Mapping, Sequence

import numpy as np
from ase import Atoms
from ase.io import read

from mlh_ipi.atomic_io import atomic_path, save_npz, write_json, write_text
from mlh_ipi.data.labelfile import label_files
from mlh_ipi.data.labelling import label_batch
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.model.network import ModelConfig
from mlh_ipi.model.training import TrainConfig, member_dir, train_committee
from mlh_ipi.strict import from_mapping
from mlh_ipi.units import HARTREE
from mlh_ipi.workflows.toml_config import check_resume_config, read_toml

log = logging.getLogger(__name__)

STATE, CONFIG, CURVE = "state.json", "config.json", "learning_curve"
RESUMABLE_CHANGES = ("max_rounds",)


# ---------------------------------------------------------------------------- building blocks

def structure_descriptor(atoms: Atoms, elements: Sequence[str], r_max: float = 6.0,
                         bin_width: float = 0.1, smearing: float = 0.1) -> np.ndarray:
    """Per-atom smeared pair-distance distribution per element pair (length units Å).

    For each unordered pair (A, B) of ``elements`` (sorted), every A-B distance
    d < ``r_max`` (periodic neighbour list, each pair counted once) adds a
    Gaussian of width ``smearing`` on the grid ``bin_width/2, 3 bin_width/2, ... < r_max``;
    the sum is divided by the number of atoms. Concatenated over pairs:
    length ``n_pairs * n_bins``. Equal for periodic images and atom permutations.
    """
    from ase.neighborlist import neighbor_list

    elements = sorted(elements)
    grid = np.arange(0.5 * bin_width, r_max, bin_width)
    i, j, d = neighbor_list("ijd", atoms, r_max)
    sym = np.array(atoms.get_chemical_symbols())
    unknown = set(sym) - set(elements)
    if unknown:
        raise ValueError(f"elements {sorted(unknown)} not in the descriptor's {elements}")
    keep = i < j
    keep |= (i == j)  # an atom's own periodic images: counted once per direction pair below
    i, j, d = i[keep], j[keep], d[keep]
    weight = np.where(i == j, 0.5, 1.0)  # (i, i, +R) and (i, i, -R) are the same pair
    out = []
    for a_idx, a in enumerate(elements):
        for b in elements[a_idx:]:
            m = ((sym[i] == a) & (sym[j] == b)) | ((sym[i] == b) & (sym[j] == a))
            g = np.exp(-0.5 * ((grid[None, :] - d[m, None]) / smearing) ** 2)
            out.append((weight[m, None] * g).sum(0) / len(atoms))
    return np.concatenate(out)


def kmeans_pick(features: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """Indices of ``k`` distinct rows, the one nearest each k-means centroid.

    Columns are standardised (zero mean, unit std; constant columns dropped)
    before ``scipy.cluster.vq.kmeans2(minit="++", seed=seed)``. Centroids are
    visited in order of their cluster size (largest first); each picks its
    nearest not yet picked row, so exactly ``min(k, n)`` indices come back.
    """
    from scipy.cluster.vq import kmeans2

    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    if k >= n:
        return list(range(n))
    if k < 1:
        return []
    std = x.std(0)
    x = (x[:, std > 0] - x[:, std > 0].mean(0)) / std[std > 0]
    if x.shape[1] == 0:  # all rows identical
        return list(range(k))
    centroids, assign = kmeans2(x, k, seed=seed, minit="++", iter=50, missing="warn")
    sizes = np.bincount(assign, minlength=k)
    picked: list[int] = []
    for c in np.argsort(-sizes, kind="stable"):
        dist = np.linalg.norm(x - centroids[c], axis=1)
        dist[picked] = np.inf
        picked.append(int(np.argmin(dist)))
    return picked


def balanced_selection(scores: Sequence[float], groups: Sequence[Hashable], count: int,
                       threshold: float) -> list[int]:
    """Up to ``count`` indices with ``scores > threshold``, balanced over ``groups``.

    Within each group candidates are ranked by score (highest first); groups
    take turns adding their next candidate (in each pass the groups whose
    candidate has the higher score go first) until ``count`` is reached or every
    group is exhausted. Returned in selection order.
    """
    if len(scores) != len(groups):
        raise ValueError("scores and groups differ in length")
    ranked: dict[Hashable, list[int]] = defaultdict(list)
    for idx in np.argsort(-np.asarray(scores, dtype=float), kind="stable"):
        if scores[idx] > threshold:
            ranked[groups[idx]].append(int(idx))
    queues = [ranked[g] for g in sorted(ranked, key=str)]
    out: list[int] = []
    depth = 0
    while len(out) < count and any(depth < len(q) for q in queues):
        # pass `depth`: every group's depth-th candidate, most uncertain first, so that with
        # fewer picks than groups the groups holding the most uncertain structures win
        layer = sorted((q[depth] for q in queues if depth < len(q)), key=lambda i: -scores[i])
        out += layer[:count - len(out)]
        depth += 1
    return out


def committee_uncertainty(committee, atoms: Atoms) -> float:
    """Max over H^Gamma elements of the standard deviation over committee members (eV)."""
    graph = committee.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array)
    return float(committee.predict_gamma(graph).max_std * HARTREE)


def group_of(atoms: Atoms, keys: Sequence[str]) -> str:
    """The group label of a pool structure, e.g. ``"defect=V_Ga|temperature_k=300"``."""
    parts = []
    for k in keys:
        v = atoms.info.get(k, "?")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        parts.append(f"{k}={v}")
    return "|".join(parts)


def round_robin_groups(groups: Sequence[str], count: int, seed: int) -> list[int]:
    """``count`` indices spread evenly over the groups (random within a group, seeded)."""
    rng = np.random.default_rng(seed)
    members: dict[str, list[int]] = defaultdict(list)
    for i in rng.permutation(len(groups)):
        members[groups[i]].append(int(i))
    scores = np.zeros(len(groups))
    order = {i: r for q in members.values() for r, i in enumerate(q)}
    for i, r in order.items():
        scores[i] = -r + 0.5 * rng.uniform()  # earlier in the shuffled group = higher; random group order
    return balanced_selection(scores, list(groups), count, threshold=-np.inf)


# ---------------------------------------------------------------------------- configuration

@dataclass(frozen=True)
class InitialConfig:
    """k-means initial training set: ``count`` structures; descriptor grid in Å."""

    count: int = 8
    r_max: float = 6.0
    bin_width: float = 0.1
    smearing: float = 0.1
    seed: int = 0


@dataclass(frozen=True)
class TestConfig:
    """Fixed test set: ``count`` pool structures held out (spread over groups, ``seed``),
    plus existing label folders ``labels`` (same DFT settings)."""

    count: int = 4
    seed: int = 1000
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SelectionConfig:
    """``per_round`` new labels per round, balanced over groups, above ``threshold_ev`` (eV)."""

    per_round: int = 6
    threshold_ev: float = 0.005


@dataclass(frozen=True)
class ALMLHConfig:
    """The whole configuration (TOML; see examples/gaas_defects/). Paths relative to the file."""

    workdir: str
    pool: str                                   # ASE-readable candidate structures
    group_keys: tuple[str, ...] = ("defect", "temperature_k")
    committee: int = 2
    max_rounds: int = 3
    initial: InitialConfig = field(default_factory=InitialConfig)
    test: TestConfig = field(default_factory=TestConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    dft: DFTSettings = field(default_factory=DFTSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig options
    base_dir: str = "."

    def __post_init__(self) -> None:
        if self.committee < 2:
            raise ValueError(f"committee must have at least 2 members for a spread, got {self.committee}")
        if self.max_rounds < 0:
            raise ValueError(f"max_rounds must be >= 0, got {self.max_rounds}")
        if self.initial.count < 1:
            raise ValueError("initial.count must be >= 1")
        bad = set(self.training) & {"folders", "output", "model"}
        if bad:
            raise ValueError(f"[training] may not set {sorted(bad)} (the workflow sets them)")
        self.train_config("x")  # unknown training keys fail now, not after labelling

    def path(self, p: str) -> Path:
        return (Path(self.base_dir) / p).resolve()

    @property
    def work(self) -> Path:
        return self.path(self.workdir)

    def train_config(self, output: str | Path, folders: Sequence[str | Path] = ()) -> TrainConfig:
        opts = {"split": (0.9, 0.1, 0.0), **dict(self.training)}
        if "split" in opts:
            opts["split"] = tuple(opts["split"])
        unknown = set(opts) - set(TrainConfig.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown [training] option(s): {sorted(unknown)}")
        return TrainConfig(folders=tuple(str(f) for f in folders), output=str(output),
                           model=self.model, **opts)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dft"] = self.dft.to_dict()
        d.pop("base_dir")
        return json.loads(json.dumps(d))


_SECTIONS = {"initial": InitialConfig, "test": TestConfig, "selection": SelectionConfig}


def config_from_dict(d: Mapping[str, Any], base_dir: str | Path = ".") -> ALMLHConfig:
    """Build an :class:`ALMLHConfig`; ``ValueError`` for unknown keys."""
    d = dict(d)
    for key in ("workdir", "pool"):
        if key not in d:
            raise ValueError(f"config needs '{key}'")
    for name, cls in _SECTIONS.items():
        if name in d:
            sec = dict(d[name])
            if "labels" in sec:
                sec["labels"] = tuple(sec["labels"])
            d[name] = from_mapping(cls, sec, f"[{name}] key")
    if "dft" in d:
        d["dft"] = DFTSettings.from_dict(d["dft"])
    if "model" in d:
        d["model"] = ModelConfig.from_dict(d["model"])
    if "group_keys" in d:
        d["group_keys"] = tuple(d["group_keys"])
    return from_mapping(ALMLHConfig, {**d, "base_dir": str(base_dir)}, "al-mlh config key")


def load_config(path: str | Path) -> ALMLHConfig:
    """Read a TOML config; relative paths in it are relative to the file's folder."""
    return config_from_dict(read_toml(path), base_dir=Path(path).resolve().parent)


# ---------------------------------------------------------------------------- state

def _load_state(work: Path) -> dict:
    path = work / STATE
    if path.exists():
        return json.loads(path.read_text())
    return {"round": 0, "done": [], "history": [], "selected": {}, "finished": False, "reason": ""}


def _save_state(work: Path, state: dict) -> None:
    write_json(work / STATE, state)


def _check_config(work: Path, cfg: ALMLHConfig) -> None:
    check_resume_config(work / CONFIG, cfg.to_dict(), RESUMABLE_CHANGES)


# ---------------------------------------------------------------------------- stages

def _pool(cfg: ALMLHConfig) -> list[Atoms]:
    path = cfg.path(cfg.pool)
    if not path.exists():
        raise FileNotFoundError(f"no such candidate pool file: {path}")
    frames = read(path, index=":")
    if not frames:
        raise ValueError(f"{path} holds no structures")
    for k, f in enumerate(frames):
        f.calc = None
        f.info["pool_index"] = k
        for key, v in list(f.info.items()):  # extxyz reads lists back as arrays; labels keep JSON info
            if isinstance(v, np.ndarray):
                f.info[key] = v.tolist()
            elif isinstance(v, np.generic):
                f.info[key] = v.item()
    return frames


def _descriptors(cfg: ALMLHConfig, pool: list[Atoms], work: Path) -> np.ndarray:
    path = work / "descriptors.npz"
    if path.exists():
        x = np.load(path)["features"]
        if len(x) == len(pool):
            return x
    from tqdm.auto import tqdm

    elements = sorted({s for a in pool for s in a.get_chemical_symbols()})
    ini = cfg.initial
    x = np.stack([structure_descriptor(a, elements, ini.r_max, ini.bin_width, ini.smearing)
                  for a in tqdm(pool, desc="descriptors", unit="struct", leave=False)])
    save_npz(path, features=x, elements=np.array(elements))
    return x


def _label(frames: list[Atoms], out: Path, cfg: ALMLHConfig, source: str, progress: bool) -> None:
    report = label_batch(frames, out, cfg.dft, source=source, progress=progress)
    if report.failed:
        log.warning("%s: %d structures failed DFT (see %s/failures.jsonl)", out, len(report.failed), out)


def _train_dirs(work: Path, r: int) -> list[Path]:
    dirs = [work / "labels" / "initial"] + [work / "labels" / f"round_{k:03d}" for k in range(1, r + 1)]
    return [d for d in dirs if d.is_dir() and label_files(d)]


def _test_paths(cfg: ALMLHConfig, work: Path) -> list[Path]:
    dirs = [work / "labels" / "test"] + [cfg.path(p) for p in cfg.test.labels]
    return [p for d in dirs if d.is_dir() for p in label_files(d)]


def _train(cfg: ALMLHConfig, work: Path, r: int, progress: bool) -> Path:
    out = work / f"round_{r:03d}" / "committee"
    tc = cfg.train_config(out, _train_dirs(work, r)).with_(progress=progress)
    done = all((out / member_dir(k) / "metrics.json").exists() for k in range(cfg.committee))
    if not done:
        train_committee(tc, cfg.committee, resume=True)
    return out


def _evaluate(cfg: ALMLHConfig, work: Path, r: int, committee) -> dict:
    from mlh_ipi.evaluation import evaluate_labels

    ev = evaluate_labels(committee, _test_paths(cfg, work))
    s = ev.summary()
    n_train = sum(len(label_files(d)) for d in _train_dirs(work, r))
    row = {"round": r, "n_train": n_train, "n_test": s["structures"],
           "test_h_mae_mev": s["h_mae_mev"], "test_h_mae_aligned_mev": s["h_mae_shift_aligned_mev"],
           "test_gap_mae_mev": s["gap_mae_mev"],
           "test_mean_max_std_mev": float(np.mean([x["committee_max_std_mev"] for x in ev.rows]))}
    write_json(work / f"round_{r:03d}" / "evaluation.json", {"summary": row, "rows": ev.rows})
    log.info("round %d: %d training labels, test H MAE %.1f meV, gap MAE %.0f meV, committee std %.1f meV",
             r, n_train, row["test_h_mae_mev"], row["test_gap_mae_mev"], row["test_mean_max_std_mev"])
    return row


def _score_and_select(cfg: ALMLHConfig, work: Path, r: int, committee, pool: list[Atoms],
                      unlabelled: list[int], progress: bool) -> tuple[list[int], dict]:
    from tqdm.auto import tqdm

    scores = [committee_uncertainty(committee, pool[i])
              for i in tqdm(unlabelled, desc=f"round {r} committee std", unit="struct",
                            disable=not progress)]
    groups = [group_of(pool[i], cfg.group_keys) for i in unlabelled]
    sel = cfg.selection
    picked = balanced_selection(scores, groups, sel.per_round, sel.threshold_ev)
    chosen = {unlabelled[p] for p in picked}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["pool_index", "group", "max_std_ev", "selected"])
    for i, g, s in zip(unlabelled, groups, scores):
        w.writerow([i, g, f"{s:.6g}", int(i in chosen)])
    write_text(work / f"round_{r:03d}" / "uncertainty.csv", buf.getvalue())
    above = sum(s > sel.threshold_ev for s in scores)
    stats = {"pool_unlabelled": len(unlabelled),
             "pool_max_std_mev": 1e3 * max(scores) if scores else float("nan"),
             "pool_mean_max_std_mev": 1e3 * float(np.mean(scores)) if scores else float("nan"),
             "n_above_threshold": int(above), "n_selected": len(picked)}
    log.info("round %d: %d unlabelled, %d above %.1f meV, %d selected over %d groups", r,
             len(unlabelled), above, 1e3 * sel.threshold_ev, len(picked),
             len({groups[p] for p in picked}))
    return [unlabelled[p] for p in picked], stats


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
    panels = [(("test_h_mae_mev", "H MAE"), ("test_h_mae_aligned_mev", "shift-aligned")),
              (("test_gap_mae_mev", "gap MAE"),),
              (("test_mean_max_std_mev", "test set"), ("pool_max_std_mev", "pool max"))]
    ylabels = ["test H$^\\Gamma$ MAE (meV)", "test band-gap MAE (meV)", "committee max std of H (meV)"]
    for ax, keys_, ylabel in zip(axes, panels, ylabels):
        for key, lab in keys_:
            ys = [row.get(key, float("nan")) for row in history]
            ax.plot(rounds, ys, "o-", label=lab)
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if len(keys_) > 1:
            ax.legend(fontsize=7)
    for r, row in zip(rounds, history):
        axes[0].annotate(f"n={row['n_train']}", (r, row["test_h_mae_mev"]), textcoords="offset points",
                         xytext=(3, 5), fontsize=7)
    fig.suptitle("MLH committee active learning (n = training structures)")
    fig.tight_layout()
    with atomic_path(work / f"{CURVE}.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------- loop

def run_active_learning(cfg: ALMLHConfig, progress: bool = True) -> dict:
    """Run (or resume) the loop; return the final state (``history``: one dict per round)."""
    from mlh_ipi.model.committee import Committee

    work = cfg.work
    work.mkdir(parents=True, exist_ok=True)
    _check_config(work, cfg)
    state = _load_state(work)
    pool = _pool(cfg)
    groups = [group_of(a, cfg.group_keys) for a in pool]

    if "test" not in state:
        state["test"] = round_robin_groups(groups, cfg.test.count, cfg.test.seed) if cfg.test.count else []
        rest = [i for i in range(len(pool)) if i not in set(state["test"])]
        x = _descriptors(cfg, pool, work)[rest]
        state["initial"] = [rest[p] for p in kmeans_pick(x, cfg.initial.count, cfg.initial.seed)]
        _save_state(work, state)
    if not state.get("prepared"):
        log.info("labelling %d test and %d initial (k-means) structures", len(state["test"]),
                 len(state["initial"]))
        if state["test"]:
            _label([pool[i] for i in state["test"]], work / "labels" / "test", cfg,
                   "al-mlh test set", progress)
        _label([pool[i] for i in state["initial"]], work / "labels" / "initial", cfg,
               "al-mlh initial k-means set", progress)
        if not _train_dirs(work, 0):
            raise RuntimeError("no initial labels (every DFT calculation failed?)")
        if not _test_paths(cfg, work):
            raise ValueError("empty test set: set test.count > 0 or test.labels")
        state["prepared"] = True
        _save_state(work, state)

    state["finished"] = False
    while True:
        r = state["round"]
        done = state["done"]
        folder = _train(cfg, work, r, progress)
        if "train" not in done:
            done.append("train")
            _save_state(work, state)
        committee = Committee.load(folder)
        if "evaluate" not in done:
            state["history"] = [h for h in state["history"] if h["round"] != r]
            state["history"].append(_evaluate(cfg, work, r, committee))
            done.append("evaluate")
            _save_state(work, state)
            _write_curve(work, state["history"])
        if r >= cfg.max_rounds:
            state.update(finished=True, reason=f"reached max_rounds = {cfg.max_rounds}")
            break
        if "select" not in done:
            used = set(state["test"]) | set(state["initial"])
            used |= {i for v in state["selected"].values() for i in v}
            unlabelled = [i for i in range(len(pool)) if i not in used]
            picked, stats = _score_and_select(cfg, work, r, committee, pool, unlabelled, progress)
            state["selected"][str(r + 1)] = picked
            next(h for h in state["history"] if h["round"] == r).update(stats)
            done.append("select")
            _save_state(work, state)
            _write_curve(work, state["history"])
        picked = state["selected"][str(r + 1)]
        if not picked:
            state.update(finished=True, reason=f"converged: no pool structure above "
                         f"{1e3 * cfg.selection.threshold_ev:.1f} meV committee std in round {r}")
            break
        out = work / "labels" / f"round_{r + 1:03d}"
        if "label" not in done:
            _label([pool[i] for i in picked], out, cfg, f"al-mlh round {r} selection", progress)
            done.append("label")
            _save_state(work, state)
        if not label_files(out):
            state.update(finished=True, reason=f"every DFT label of round {r}'s selection failed")
            break
        state.update(round=r + 1, done=[])
        _save_state(work, state)
    _save_state(work, state)
    _write_curve(work, state["history"])
    log.info("MLH active learning finished after round %d: %s", state["round"], state["reason"])
    return state


__all__ = ["ALMLHConfig", "balanced_selection", "committee_uncertainty", "config_from_dict",
           "group_of", "kmeans_pick", "load_config", "round_robin_groups", "run_active_learning",
           "structure_descriptor"]
