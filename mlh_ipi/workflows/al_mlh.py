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
   round trains afresh, or with ``warm_start`` rounds r > 0 continue member k of
   round r - 1; an interrupted round resumes from its checkpoints);
2. **evaluate**: committee mean vs the test labels (H^Gamma MAE, shift-aligned
   H MAE, host-like gap MAE, :func:`mlh_ipi.evaluation.evaluate_labels`) into
   ``learning_curve.csv``/``.png``;
3. stop if r == ``max_rounds``;
4. **score**: committee uncertainty of every unlabelled pool structure (less
   ``selection.exclude``, frames held out for another check) =
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
configuration is an error except for ``max_rounds`` (raise it to extend),
``compact_labels``, ``selection.exclude`` and ``warm_start``.

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

from mlh_ipi.atomic_io import save_npz, write_json, write_text
from mlh_ipi.data.labelfile import label_files
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.model.network import ModelConfig
from mlh_ipi.model.training import TrainConfig, member_dir, train, train_committee
from mlh_ipi.strict import from_mapping
from mlh_ipi.units import HARTREE
from mlh_ipi.workflows import al_common as common
from mlh_ipi.workflows.al_common import RoundStages, WorkdirPaths, round_dir
from mlh_ipi.workflows.toml_config import read_toml

log = logging.getLogger(__name__)

STATE, CONFIG, CURVE = common.STATE, common.CONFIG, common.CURVE
RESUMABLE_CHANGES = ("max_rounds", "compact_labels", "selection.exclude", "warm_start")
# The model, its training and the extra training-label folders may still change while no
# committee has been trained: the labels made so far (test set, initial set) do not depend on them.
UNTRAINED_CHANGES = ("model", "training", "initial.labels")


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
    return committee.network_spread(graph) * HARTREE


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
    """k-means initial training set: ``count`` structures; descriptor grid in Å.

    ``labels``: existing label folders (same DFT settings, e.g. the labels of a MACE
    active-learning run on the same cells) added to every round's training set."""

    count: int = 8
    r_max: float = 6.0
    bin_width: float = 0.1
    smearing: float = 0.1
    seed: int = 0
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestConfig:
    """Fixed test set: ``count`` pool structures held out (spread over groups, ``seed``),
    plus existing label folders ``labels`` (same DFT settings)."""

    count: int = 4
    seed: int = 1000
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SelectionConfig:
    """``per_round`` new labels per round, balanced over groups, above ``threshold_ev`` (eV).

    ``exclude``: pool indices never selected, e.g. frames an outside accuracy check keeps
    held out (they stay out of every later round's training set). It may change on resume."""

    per_round: int = 6
    threshold_ev: float = 0.005
    exclude: tuple[int, ...] = ()


@dataclass(frozen=True)
class ALMLHConfig(WorkdirPaths):
    """The whole configuration (TOML; see examples/gaas_defects/). Paths relative to the file."""

    workdir: str
    pool: str                                   # ASE-readable candidate structures
    group_keys: tuple[str, ...] = ("defect", "temperature_k")
    committee: int = 2
    max_rounds: int = 3
    compact_labels: bool = False  # label files keep E, F and H only (~10x smaller; data/labelfile.py)
    # rounds r > 0: member k starts from round r-1's member k (its best.pt) instead of from scratch;
    # each member keeps its own lineage, so the committee keeps the spread of its random starts
    warm_start: bool = False
    initial: InitialConfig = field(default_factory=InitialConfig)
    test: TestConfig = field(default_factory=TestConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    dft: DFTSettings = field(default_factory=DFTSettings)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig options
    base_dir: str = "."

    def __post_init__(self) -> None:
        common.check_rounds(self.committee, self.max_rounds, "members for a spread")
        if self.initial.count < 1:
            raise ValueError("initial.count must be >= 1")
        bad = set(self.training) & {"folders", "output", "model"}
        if bad:
            raise ValueError(f"[training] may not set {sorted(bad)} (the workflow sets them)")
        self.train_config("x")  # unknown training keys fail now, not after labelling

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
            if "exclude" in sec:
                sec["exclude"] = tuple(int(i) for i in sec["exclude"])
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


# ---------------------------------------------------------------------------- stages

def _pool(cfg: ALMLHConfig) -> list[Atoms]:
    frames = common.read_structures(cfg.path(cfg.pool), "candidate pool")
    for k, f in enumerate(frames):
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


def _test_paths(cfg: ALMLHConfig, work: Path) -> list[Path]:
    dirs = common.test_label_dirs(work, [cfg.path(p) for p in cfg.test.labels])
    return [p for d in dirs for p in label_files(d)]


def _training_dirs(cfg: ALMLHConfig, work: Path, r: int) -> list[Path]:
    return common.training_label_dirs(work, r, [cfg.path(p) for p in cfg.initial.labels])


def _train(cfg: ALMLHConfig, work: Path, r: int, progress: bool) -> Path:
    out = round_dir(work, r) / "committee"
    tc = cfg.train_config(out, _training_dirs(cfg, work, r)).with_(progress=progress)
    done = all((out / member_dir(k) / "metrics.json").exists() for k in range(cfg.committee))
    if done:
        return out
    if not (cfg.warm_start and r > 0):
        train_committee(tc, cfg.committee, resume=True)
        return out
    for k in range(cfg.committee):
        start = round_dir(work, r - 1) / "committee" / member_dir(k) / "best.pt"
        if not start.exists():
            raise FileNotFoundError(f"warm_start: round {r - 1} has no {start} to start member {k} from")
        train(tc.with_(seed=tc.seed + k, init_from=str(start)), resume=True, output=out / member_dir(k))
    return out


def _evaluate(cfg: ALMLHConfig, work: Path, r: int, committee) -> dict:
    from mlh_ipi.evaluation import evaluate_labels

    ev = evaluate_labels(committee, _test_paths(cfg, work))
    s = ev.summary()
    n_train = sum(len(label_files(d)) for d in _training_dirs(cfg, work, r))
    row = {"round": r, "n_train": n_train, "n_test": s["structures"],
           "test_h_mae_mev": s["h_mae_mev"], "test_h_mae_aligned_mev": s["h_mae_shift_aligned_mev"],
           "test_gap_mae_mev": s["gap_mae_mev"],
           "test_mean_max_std_mev": float(np.mean([x["committee_max_std_mev"] for x in ev.rows]))}
    write_json(round_dir(work, r) / "evaluation.json", {"summary": row, "rows": ev.rows})
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
    write_text(round_dir(work, r) / "uncertainty.csv", buf.getvalue())
    above = sum(s > sel.threshold_ev for s in scores)
    stats = {"pool_unlabelled": len(unlabelled),
             "pool_max_std_mev": 1e3 * max(scores) if scores else float("nan"),
             "pool_mean_max_std_mev": 1e3 * float(np.mean(scores)) if scores else float("nan"),
             "n_above_threshold": int(above), "n_selected": len(picked)}
    log.info("round %d: %d unlabelled, %d above %.1f meV, %d selected over %d groups", r,
             len(unlabelled), above, 1e3 * sel.threshold_ev, len(picked),
             len({groups[p] for p in picked}))
    return [unlabelled[p] for p in picked], stats


_CURVE = common.CurvePlot(
    panels=[("test H$^\\Gamma$ MAE (meV)", [("test_h_mae_mev", "H MAE"),
                                            ("test_h_mae_aligned_mev", "shift-aligned")]),
            ("test band-gap MAE (meV)", [("test_gap_mae_mev", "gap MAE")]),
            ("committee max std of H (meV)", [("test_mean_max_std_mev", "test set"),
                                              ("pool_max_std_mev", "pool max")])],
    title="MLH committee active learning (n = training structures)",
    annotate=(0, "test_h_mae_mev"))


# ---------------------------------------------------------------------------- loop

class _Stages(RoundStages):
    """al-mlh's round: MLH committee, uncertainty over the unlabelled pool, selection in the state."""

    name = "al-mlh"
    curve = _CURVE

    def __init__(self, cfg: ALMLHConfig, work: Path, progress: bool, state: dict, pool: list[Atoms]) -> None:
        super().__init__(cfg, work, progress)
        self.state, self.pool = state, pool

    def train(self, r: int):
        from mlh_ipi.model.committee import Committee

        return Committee.load(_train(self.cfg, self.work, r, self.progress))

    def evaluate(self, r: int, committee) -> dict:
        return _evaluate(self.cfg, self.work, r, committee)

    def select(self, r: int, committee) -> dict:
        state = self.state
        used = set(state["test"]) | set(state["initial"])
        used |= {i for v in state["selected"].values() for i in v}
        held_out = set(self.cfg.selection.exclude)
        unlabelled = [i for i in range(len(self.pool)) if i not in used and i not in held_out]
        picked, stats = _score_and_select(self.cfg, self.work, r, committee, self.pool, unlabelled,
                                          self.progress)
        state["selected"][str(r + 1)] = picked
        return stats

    def selection(self, r: int) -> list[Atoms]:
        return [self.pool[i] for i in self.state["selected"][str(r + 1)]]

    def converged_reason(self, r: int) -> str:
        return (f"converged: no pool structure above "
                f"{1e3 * self.cfg.selection.threshold_ev:.1f} meV committee std in round {r}")


def resumable_changes(work: Path) -> tuple[str, ...]:
    """The config keys that may differ when ``work`` resumes: ``RESUMABLE_CHANGES``, and
    ``UNTRAINED_CHANGES`` as long as round 0's committee has not been started."""
    untrained = not (round_dir(work, 0) / "committee").exists()
    return RESUMABLE_CHANGES + (UNTRAINED_CHANGES if untrained else ())


def run_active_learning(cfg: ALMLHConfig, progress: bool = True) -> dict:
    """Run (or resume) the loop; return the final state (``history``: one dict per round)."""
    pool = _pool(cfg)
    bad = [i for i in cfg.selection.exclude if not 0 <= i < len(pool)]
    if bad:
        raise ValueError(f"[selection] exclude: pool indices {bad} outside the pool's 0..{len(pool) - 1}")
    work, state = common.start_run(cfg, resumable_changes(cfg.work), selected={})
    groups = [group_of(a, cfg.group_keys) for a in pool]

    if "test" not in state:
        state["test"] = round_robin_groups(groups, cfg.test.count, cfg.test.seed) if cfg.test.count else []
        rest = [i for i in range(len(pool)) if i not in set(state["test"])]
        x = _descriptors(cfg, pool, work)[rest]
        state["initial"] = [rest[p] for p in kmeans_pick(x, cfg.initial.count, cfg.initial.seed)]
        common.save_state(work, state)
    if not state.get("prepared"):
        log.info("labelling %d test and %d initial (k-means) structures", len(state["test"]),
                 len(state["initial"]))
        if state["test"]:
            common.label_frames([pool[i] for i in state["test"]], work / "labels" / "test", cfg.dft,
                                "al-mlh test set", progress, compact=cfg.compact_labels)
        common.label_frames([pool[i] for i in state["initial"]], work / "labels" / "initial", cfg.dft,
                            "al-mlh initial k-means set", progress, compact=cfg.compact_labels)
        common.finish_preparation(work, state, _training_dirs(cfg, work, 0), _test_paths(cfg, work))

    state = common.run_rounds(work, state, cfg.max_rounds, _Stages(cfg, work, progress, state, pool))
    log.info("MLH active learning finished after round %d: %s", state["round"], state["reason"])
    return state


__all__ = ["ALMLHConfig", "balanced_selection", "committee_uncertainty", "config_from_dict",
           "group_of", "kmeans_pick", "load_config", "resumable_changes", "round_robin_groups",
           "run_active_learning",
           "structure_descriptor"]
