"""Training the Hamiltonian model through the Gamma-point sum (``mlh-ipi train-h CONFIG``).

Loss: MAE over all ``H^Gamma`` matrix elements (Hartree) of a batch
(``loss = "mae"``, the default), or the root-mean-square error (``"rmse"``,
same units and scale, but a gradient that shrinks with the error, so Adam can
settle well below the step-size noise of the MAE's sign gradient: on two
water molecules a small model stalls at 25 meV with the MAE and keeps falling
with the RMSE), optionally plus ``eigenvalue_weight`` times the MAE of the
generalised eigenvalues (``H c = e S c`` with the label's overlap; off by
default), over all states or those within ``eigenvalue_window_ev`` of the band
edges, optionally with their mean error (a uniform potential shift, which moves
no gap or density) removed. ``onsite_weight`` / ``near_weight`` weight the
elements of on-site blocks and of atom pairs closer than ``near_cutoff_a``
(:mod:`mlh_ipi.model.block_weights`); then best.pt, the LR schedule and early
stopping follow the validation MAE with the same weights, plus ``eigenvalue_weight``
times the validation eigenvalue term when there is one (the loss's own objective;
the gap of a small-gap cell can swing by 0.1 eV between epochs of equal H MAE,
BENCHMARKS.md §4c). The reported metric is the (unweighted) H MAE (meV) whatever the loss. AdamW,
ReduceLROnPlateau on the validation MAE, early stopping, a checkpoint every
epoch (atomic; ``checkpoint.pt`` = last with optimizer state for ``--resume``,
``best.pt`` = best validation MAE), deterministic seeds. Data are split 8:1:1
with ``split_seed`` (shared by committee members; model seeds differ). A resumed run
keeps the label files it started with (recorded in the checkpoint), even if its folders grew.

Config (TOML; every key optional except ``data.folders``)::

    [data]
    folders = ["labels/"]        # relative to the config file
    split = [0.8, 0.1, 0.1]
    split_seed = 0

    [model]                      # mlh_ipi.model.network.ModelConfig
    cutoff_h = 8.0               # Angstrom, Hamiltonian edges (see network.py for the choice)
    cutoff_mp = 5.0              # Angstrom, message passing
    num_layers = 3
    hidden_irreps = ""           # "" = derived from the basis

    [training]
    output = "h_model"           # relative to the config file
    seed = 0                     # model seed; committee member k uses seed + k
    epochs = 500
    batch_size = 1
    lr = 5e-3
    weight_decay = 0.0
    scheduler_factor = 0.5       # ReduceLROnPlateau on the validation MAE
    scheduler_patience = 10
    min_lr = 1e-6
    early_stopping_patience = 50
    loss = "mae"                 # or "rmse"
    eigenvalue_weight = 0.0      # > 0 adds the eigenvalue MAE (Hartree) to the loss
    eigenvalue_window_ev = 0.0   # > 0: only states within this window below the VBM / above the CBM
    eigenvalue_shift_free = false  # true: remove the mean error of those states (a uniform potential shift)
    onsite_weight = 1.0          # loss weight of on-site-block elements (mlh_ipi.model.block_weights)
    near_weight = 1.0            # loss weight of elements of atom pairs closer than near_cutoff_a
    near_cutoff_a = 2.0          # Angstrom, minimum-image distance (2.0 = the Si-O bonds of SiO2)
    lbfgs_steps = 0              # > 0: full-batch L-BFGS polish of the best weights afterwards
    init_from = ""               # start from these weights (best.pt of an earlier run)
    init_cutoff_h_change = false # true: init_from may have another cutoff_h (the pair stage relearns)
    baseline_cache = ""          # folder of cached Harris H_0 per label (default OUTPUT/baseline_h0)
    dtype = "float32"

``init_from`` continues from an earlier model when the dataset has grown (more
labels, an active-learning round): the network, its normalisation and its
``[model]`` settings come from that checkpoint (the config's cutoffs must match
it, and its basis layout and DFT settings must match the labels); optimizer,
schedule and epochs start afresh. Unlike ``--resume`` the data split may differ.
``init_cutoff_h_change = true`` lets the config's ``cutoff_h`` differ from the
checkpoint's: no weight depends on it, so every weight is kept, the pair stage's
radial basis and envelope follow the new cutoff and ``avg_num_pairs`` is re-counted
on the training graphs; the pair stage then relearns its distance dependence.
``cutoff_mp`` must still match (the node features would change meaning).

After the first-order phase, ``lbfgs_steps > 0`` refines the best weights by
full-batch L-BFGS (strong-Wolfe line search) on the training-set mean squared
H^Gamma error. Adam's step noise puts a floor under the error (on two SiO
dimers it still wanders between 3 and 15 meV after 300 epochs); a quasi-Newton
polish on a small training set converges to the model's own limit. The result
replaces ``best.pt`` only if it improves the monitored (validation, else
training) MAE, and it is recorded as one ``"phase": "lbfgs"`` history entry.

Outputs in ``output``: ``checkpoint.pt`` (last epoch, with optimizer state),
``best.pt`` (best validation MAE; what ``HamiltonianPredictor.load`` reads),
``metrics.json`` (history, split, final train/val/test MAE in meV).
"""
from __future__ import annotations

import logging
import math
import time
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from mlh_ipi.atomic_io import write_json
from mlh_ipi.data.dataset import DEFAULT_SPLIT, load_graphs, split_indices
from mlh_ipi.data.graphs import StructureGraph
from mlh_ipi.model.batch import GraphBatch, collate
from mlh_ipi.model.block_weights import gamma_weights
from mlh_ipi.dft.settings import DFTSettings, check_compatible
from mlh_ipi.model.checkpoint import (check_layout, checkpoint_dict, model_from_checkpoint, read_checkpoint,
                                      save_checkpoint, stored_model_config)
from mlh_ipi.model.gamma import gamma_flat, split_gamma
from mlh_ipi.model.network import HamiltonianModel, ModelConfig, count_parameters
from mlh_ipi.model.normalisation import compute_normalisation
from mlh_ipi.orbitals import OrbitalLayout
from mlh_ipi.units import HARTREE

log = logging.getLogger(__name__)
MEV = 1000.0 * HARTREE  # meV per Hartree
CHECKPOINT, BEST, METRICS = "checkpoint.pt", "best.pt", "metrics.json"


@dataclass(frozen=True)
class TrainConfig:
    """Training options. Learning rates in 1/step units, MAE thresholds in meV."""

    folders: tuple[str, ...] = ()
    split: tuple[float, float, float] = DEFAULT_SPLIT
    split_seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    output: str = "h_model"
    seed: int = 0
    epochs: int = 500
    batch_size: int = 1
    lr: float = 5e-3
    weight_decay: float = 0.0
    scheduler_factor: float = 0.5
    scheduler_patience: int = 10
    min_lr: float = 1e-6
    early_stopping_patience: int = 50
    loss: str = "mae"
    eigenvalue_weight: float = 0.0
    eigenvalue_window_ev: float = 0.0
    eigenvalue_shift_free: bool = False
    onsite_weight: float = 1.0
    near_weight: float = 1.0
    near_cutoff_a: float = 2.0
    lbfgs_steps: int = 0
    init_from: str = ""
    init_cutoff_h_change: bool = False
    baseline_cache: str = ""
    grad_clip: float = 100.0
    dtype: str = "float32"
    progress: bool = True

    @property
    def block_weighted(self) -> bool:
        """Whether the loss weights on-site and near-pair elements (``onsite_weight``, ``near_weight``)."""
        return self.onsite_weight != 1.0 or self.near_weight != 1.0

    def __post_init__(self) -> None:
        if self.loss not in ("mae", "rmse"):
            raise ValueError(f"loss must be 'mae' or 'rmse', got {self.loss!r}")
        if self.lbfgs_steps < 0:
            raise ValueError(f"lbfgs_steps must be >= 0, got {self.lbfgs_steps}")
        if self.eigenvalue_window_ev < 0:
            raise ValueError("eigenvalue_window_ev must be >= 0 (eV; 0 = all states), "
                             f"got {self.eigenvalue_window_ev}")
        if min(self.onsite_weight, self.near_weight) <= 0 or self.near_cutoff_a < 0:
            raise ValueError("onsite_weight and near_weight must be > 0 and near_cutoff_a >= 0 (Angstrom), "
                             f"got {self.onsite_weight}, {self.near_weight}, {self.near_cutoff_a}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        """Read a TOML config; relative paths are taken relative to the config file."""
        path = Path(path)
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        return cls.from_dict(raw, base=path.parent)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], base: Path | None = None) -> "TrainConfig":
        raw = dict(raw)
        unknown_sections = set(raw) - {"data", "model", "training"}
        if unknown_sections:
            raise ValueError(f"unknown config section(s): {sorted(unknown_sections)}")
        data, train = dict(raw.get("data", {})), dict(raw.get("training", {}))
        unknown = (set(data) - {"folders", "split", "split_seed"}) | (
            set(train) - ({f.name for f in fields(cls)} - {"folders", "split", "split_seed", "model"}))
        if unknown:
            raise ValueError(f"unknown config key(s): {sorted(unknown)}")
        folders = data.get("folders", [])
        if isinstance(folders, str):
            folders = [folders]
        if not folders:
            raise ValueError("config needs [data] folders = [...] (label folders)")

        def resolve(p):
            p = Path(p)
            return str(p if p.is_absolute() or base is None else base / p)

        kw = dict(train)
        if "output" in kw:
            kw["output"] = resolve(kw["output"])
        elif base is not None:
            kw["output"] = resolve(cls.output)
        for key in ("init_from", "baseline_cache"):
            if kw.get(key):
                kw[key] = resolve(kw[key])
        return cls(folders=tuple(resolve(f) for f in folders),
                   split=tuple(data.get("split", DEFAULT_SPLIT)),
                   split_seed=int(data.get("split_seed", 0)),
                   model=ModelConfig.from_dict(raw.get("model", {})), **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["folders"], d["split"] = list(self.folders), list(self.split)
        return d

    @classmethod
    def from_saved(cls, d: Mapping[str, Any]) -> "TrainConfig":
        d = dict(d)
        d["model"] = ModelConfig.from_dict(d["model"])
        d["folders"], d["split"] = tuple(d["folders"]), tuple(d["split"])
        return cls(**d)

    def with_(self, **changes) -> "TrainConfig":
        return TrainConfig(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})

    @property
    def torch_dtype(self) -> torch.dtype:
        return {"float32": torch.float32, "float64": torch.float64}[self.dtype]


# ----------------------------------------------------------------------------
def average_num_neighbors(graphs: Sequence[StructureGraph]) -> float:
    """Mean number of message-passing neighbours per atom."""
    edges = sum(g.mp_edge_index.shape[1] for g in graphs)
    atoms = sum(g.natoms for g in graphs)
    return max(1.0, edges / max(atoms, 1))


def average_num_pairs(graphs: Sequence[StructureGraph]) -> float:
    """Mean number of Hamiltonian edges (pairs within r_H) per atom."""
    return max(1.0, sum(g.num_edges for g in graphs) / max(sum(g.natoms for g in graphs), 1))


def gamma_errors(model: HamiltonianModel, batch: GraphBatch) -> torch.Tensor:
    """Predicted minus target ``H^Gamma`` elements (Hartree), flattened over the batch."""
    out = model(batch)
    return gamma_flat(batch, out["onsite"], out["offsite"], model.norb) - batch.hamiltonian


def generalized_eigenvalues(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of ``H c = e S c`` (Hartree) via Cholesky of ``S``."""
    L = torch.linalg.cholesky(s)
    a = torch.linalg.solve_triangular(L, h, upper=False)
    a = torch.linalg.solve_triangular(L, a.transpose(-1, -2), upper=False)
    return torch.linalg.eigvalsh(0.5 * (a + a.transpose(-1, -2)))


class Trainer:
    """Owns data, model, optimiser and the on-disk state of one training run."""

    def __init__(self, config: TrainConfig, output: str | Path | None = None):
        self.config = config
        self.output = Path(output or config.output)
        self.dtype = config.torch_dtype
        graphs, self.layout, self.settings = load_graphs(config.folders, config.model.cutoff_h,
                                                         config.model.cutoff_mp)
        if config.model.baseline:  # the network learns H - H_0 (mlh_ipi.dft.harris)
            from mlh_ipi.dft.harris import subtract_harris_baseline

            # cached under the config's output (the members of a committee share one H_0 per label),
            # or in baseline_cache, a folder shared by the runs on one label set
            cache = Path(config.baseline_cache) if config.baseline_cache else Path(config.output) / "baseline_h0"
            subtract_harris_baseline(graphs, self.settings, cache_dir=cache, progress=config.progress,
                                     keep=config.eigenvalue_weight > 0)
        self._use_graphs(graphs)
        self._eig_cache: dict[int, tuple] = {}      # id(graph) -> eigenvalue-term targets
        self._weight_cache: dict[int, torch.Tensor] = {}

    def _use_graphs(self, graphs: list[StructureGraph]) -> None:
        """Train on ``graphs``, split by the config's fractions and seed."""
        self.graphs = graphs
        tr, va, te = split_indices(len(graphs), self.config.split, self.config.split_seed)
        self.split = {"train": tr.tolist(), "val": va.tolist(), "test": te.tolist()}
        self.train_graphs = [graphs[k] for k in tr]
        self.val_graphs = [graphs[k] for k in va]
        self.test_graphs = [graphs[k] for k in te]

    def _keep_labels_of_run(self, ckpt: dict) -> None:
        """A resumed run trains on the labels it started with.

        Label folders can grow while a run is interrupted (an active-learning round reads folders
        that another job still fills). The labels added since are left for the next run, with a
        warning, instead of changing the split under a half-trained model. A label of the run that
        has gone is an error. Checkpoints from before ``label_files`` was recorded resume when the
        run's labels are the first ones found, in the same order (files appended to the last folder).
        """
        tr = ckpt["training"]
        n_run = sum(len(v) for v in tr["split"].values())
        recorded = tr.get("label_files")
        if recorded is not None:
            by_source = {g.source: g for g in self.graphs}
            gone = [tuple(src) for src in recorded if tuple(src) not in by_source]
            if gone:
                k, name = gone[0]
                folder = self.config.folders[k] if k < len(self.config.folders) else f"folder #{k}"
                raise ValueError(f"cannot resume {self.output}: {len(gone)} label file(s) of this run are gone, "
                                 f"e.g. {name} in {folder} (or the config's label folders changed)")
            graphs = [by_source[tuple(src)] for src in recorded]
        else:
            names: list[str | None] = [None] * n_run
            stored = ckpt.get("metrics", {}).get("names", {})
            for part, idx in tr["split"].items():
                for i, name in zip(idx, stored.get(part, [])):
                    names[i] = name
            if [g.name for g in self.graphs[:n_run]] != names:
                raise ValueError("cannot resume: the data split changed (label folders or split settings differ)")
            graphs = self.graphs[:n_run]
        if len(graphs) < len(self.graphs):
            log.warning("%s: resuming on the %d labels this run started with; %d label file(s) added to its "
                        "folders since are left for a new run", self.output, len(graphs),
                        len(self.graphs) - len(graphs))
            self._use_graphs(graphs)

    # --- setup -------------------------------------------------------------
    def _fresh_state(self):
        cfg = self.config
        torch.manual_seed(cfg.seed)
        model_cfg = ModelConfig.from_dict({**cfg.model.to_dict(),
                                           "avg_num_neighbors": average_num_neighbors(self.train_graphs),
                                           "avg_num_pairs": average_num_pairs(self.train_graphs)})
        if cfg.init_from:
            model, self.normalisation = self._initial_weights(cfg.init_from)
        else:
            model = HamiltonianModel(model_cfg, self.layout)
            self.normalisation = compute_normalisation(self.train_graphs, self.layout)
            model.set_normalisation(self.normalisation["scale"], torch.tensor(self.normalisation["onsite_shift"]))
        self.model = model.to(self.dtype).train()
        self._make_optim()
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.epoch, self.best, self.best_epoch, self.bad_epochs = 0, math.inf, -1, 0
        self.history: list[dict] = []

    def _initial_weights(self, path: str):
        ckpt = read_checkpoint(path)
        check_layout(OrbitalLayout.from_dict(ckpt["layout"]), self.layout, what=f"init_from {path}")
        check_compatible(DFTSettings.from_dict(ckpt["settings"]), self.settings, what=f"init_from {path}")
        old = ModelConfig.from_dict(stored_model_config(ckpt))
        new_h = self.config.model.cutoff_h
        h_moves = old.cutoff_h != new_h and self.config.init_cutoff_h_change
        if old.cutoff_mp != self.config.model.cutoff_mp or (old.cutoff_h != new_h and not h_moves):
            raise ValueError(f"init_from {path}: model cutoffs (cutoff_h, cutoff_mp) = "
                             f"{(old.cutoff_h, old.cutoff_mp)} but this config has "
                             f"{(new_h, self.config.model.cutoff_mp)}"
                             + ("" if old.cutoff_mp != self.config.model.cutoff_mp else
                                " (init_cutoff_h_change = true starts a model with another cutoff_h from it)"))
        if old.baseline != self.config.model.baseline:
            raise ValueError(f"init_from {path}: the model learned with baseline {old.baseline!r}, "
                             f"this config has {self.config.model.baseline!r}")
        width = self.config.model.mp_switch_width
        if width != old.mp_switch_width:  # same weights, the switch is not a parameter
            log.info("init_from %s: message switch width %.2f -> %.2f A", path, old.mp_switch_width, width)
            ckpt = {**ckpt, "model_config": {**stored_model_config(ckpt), "mp_switch_width": width}}
        log.info("initial weights from %s", path)
        if not h_moves:
            return model_from_checkpoint(ckpt, self.dtype), ckpt["normalisation"]
        pairs = average_num_pairs(self.train_graphs)
        log.info("init_from %s: cutoff_h %.2f -> %.2f A (avg pairs per atom %.1f -> %.1f); the pair stage relearns",
                 path, old.cutoff_h, new_h, old.avg_num_pairs, pairs)
        config = ModelConfig.from_dict({**stored_model_config(ckpt), "cutoff_h": new_h, "avg_num_pairs": pairs})
        model = HamiltonianModel(config, OrbitalLayout.from_dict(ckpt["layout"]))
        # no parameter depends on cutoff_h; only the Bessel frequencies of the pair radial basis do
        fresh = {k for k in model.state_dict() if k.startswith("radial_h.")}
        missing, unexpected = model.load_state_dict(
            {k: v for k, v in ckpt["state_dict"].items() if k not in fresh}, strict=False)
        if set(missing) != fresh or unexpected:
            raise ValueError(f"init_from {path}: weights do not fit the new cutoff_h model "
                             f"(missing {sorted(set(missing) - fresh)}, unexpected {sorted(unexpected)})")
        return model.to(self.dtype), ckpt["normalisation"]

    def _make_optim(self):
        cfg = self.config
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=cfg.scheduler_factor, patience=cfg.scheduler_patience,
            min_lr=cfg.min_lr)

    def _resume_state(self, ckpt: dict):
        self.model = model_from_checkpoint(ckpt, self.dtype).train()
        self.normalisation = ckpt["normalisation"]
        self._make_optim()
        tr = ckpt["training"]
        self.optimizer.load_state_dict(tr["optimizer"])
        self.scheduler.load_state_dict(tr["scheduler"])
        self.generator = torch.Generator()
        self.generator.set_state(tr["generator"])
        torch.set_rng_state(tr["torch_rng"])
        self.epoch, self.best, self.best_epoch = tr["epoch"], tr["best"], tr["best_epoch"]
        self.bad_epochs, self.history = tr["bad_epochs"], list(tr["history"])
        if tr["split"] != self.split:
            raise ValueError("cannot resume: the data split changed (label folders or split settings differ)")

    # --- one epoch ----------------------------------------------------------
    def _batches(self, graphs: list[StructureGraph], shuffle: bool):
        order = (torch.randperm(len(graphs), generator=self.generator).tolist() if shuffle
                 else list(range(len(graphs))))
        bs = max(1, self.config.batch_size)
        for k in range(0, len(order), bs):
            chunk = [graphs[o] for o in order[k:k + bs]]
            yield chunk, collate(chunk, self.dtype)

    def _eigen_target(self, g: StructureGraph):
        """(S, reference eigenvalues, mask of the states the loss sees, baseline H_0 or None) of one
        training structure; the reference is the label's H (H_0 + ΔH for a baseline model)."""
        if id(g) not in self._eig_cache:  # keyed by the graph itself: names need not be unique
            s = torch.as_tensor(g.overlap, dtype=self.dtype)
            h0 = None if g.baseline_ha is None else torch.as_tensor(g.baseline_ha, dtype=self.dtype)
            h_ref = g.hamiltonian_ha if g.baseline_ha is None else g.hamiltonian_ha + g.baseline_ha
            e = generalized_eigenvalues(torch.as_tensor(h_ref, dtype=self.dtype), s)
            mask = torch.ones_like(e, dtype=torch.bool)
            window = self.config.eigenvalue_window_ev / HARTREE
            if window > 0:
                if g.nelectron is None:
                    raise ValueError(f"{g.name}: eigenvalue_window_ev needs the label's electron count")
                nocc = g.nelectron // 2  # closed-shell filling, as the labels' band edges
                mask = (e >= e[nocc - 1] - window) & (e <= e[min(nocc, len(e) - 1)] + window)
            self._eig_cache[id(g)] = (s, e, mask, h0)
        return self._eig_cache[id(g)]

    def _eigenvalue_error(self, g: StructureGraph, h: torch.Tensor) -> torch.Tensor:
        """Mean |e_pred - e_DFT| (Hartree) over the selected states, shift-free if configured;
        ``h`` is the network's output (ΔH for a baseline model, whose H_0 is added here)."""
        s, e_ref, mask, h0 = self._eigen_target(g)
        d = (generalized_eigenvalues(h if h0 is None else h0 + h, s) - e_ref)[mask]
        if self.config.eigenvalue_shift_free:
            d = d - d.mean()
        return d.abs().mean()

    def _weights(self, chunk) -> torch.Tensor | None:
        """Concatenated per-element loss weights of a batch (None when the loss is unweighted)."""
        cfg = self.config
        if not cfg.block_weighted:
            return None
        parts = []
        for g in chunk:
            if id(g) not in self._weight_cache:
                self._weight_cache[id(g)] = torch.as_tensor(
                    gamma_weights(g.positions_a, g.cell_a, g.atom_offsets, cfg.onsite_weight,
                                  cfg.near_weight, cfg.near_cutoff_a), dtype=self.dtype)
            parts.append(self._weight_cache[id(g)])
        return torch.cat(parts)

    def _loss(self, chunk, batch):
        pred = self._predict_gamma(batch)
        err = pred - batch.hamiltonian
        w = self._weights(chunk)
        if w is None:
            loss = err.abs().mean() if self.config.loss == "mae" else err.square().mean().sqrt()
        elif self.config.loss == "mae":
            loss = (w * err.abs()).sum() / w.sum()
        else:
            loss = ((w * err.square()).sum() / w.sum()).sqrt()
        if self.config.eigenvalue_weight > 0:
            eig = [self._eigenvalue_error(g, h) for g, h in zip(chunk, split_gamma(batch, pred))]
            loss = loss + self.config.eigenvalue_weight * torch.stack(eig).mean()
        return loss, err.detach()

    def train_epoch(self) -> float:
        self.model.train()
        abs_sum, n = 0.0, 0
        for chunk, batch in self._batches(self.train_graphs, shuffle=True):
            self.optimizer.zero_grad(set_to_none=True)
            loss, err = self._loss(chunk, batch)
            loss.backward()
            if self.config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
            self.optimizer.step()
            abs_sum += float(err.abs().sum())
            n += err.numel()
        return abs_sum / max(n, 1) * MEV

    @torch.no_grad()
    def errors(self, graphs: list[StructureGraph], weighted: bool = False,
               eigenvalues: bool = False) -> dict | None:
        """Errors of the model over ``graphs`` from one network pass (None if empty), in meV:
        ``mae_mev`` of the ``H^Gamma`` elements; with ``weighted``, ``weighted_mae_mev`` with the
        loss's block weights (equal to the plain MAE when there are none); with ``eigenvalues``,
        ``eigenvalue_mae_mev``, the mean over structures of the loss's eigenvalue term
        (|e_pred - e_DFT| over the loss's states, shift-free if configured)."""
        if not graphs:
            return None
        self.model.eval()
        abs_sum, n, w_sum, w_n, eig = 0.0, 0, 0.0, 0.0, []
        for chunk, batch in self._batches(graphs, shuffle=False):
            pred = self._predict_gamma(batch)
            err = (pred - batch.hamiltonian).abs()
            abs_sum += float(err.sum())
            n += err.numel()
            if weighted:
                w = self._weights(chunk)
                w_sum += float(err.sum() if w is None else (w * err).sum())
                w_n += err.numel() if w is None else float(w.sum())
            if eigenvalues:
                eig += [float(self._eigenvalue_error(g, h)) for g, h in zip(chunk, split_gamma(batch, pred))]
        out = {"mae_mev": abs_sum / max(n, 1) * MEV}
        if weighted:
            out["weighted_mae_mev"] = w_sum / max(w_n, 1) * MEV
        if eigenvalues:
            out["eigenvalue_mae_mev"] = sum(eig) / len(eig) * MEV
        return out

    def evaluate(self, graphs: list[StructureGraph], weighted: bool = False) -> float | None:
        """MAE of ``H^Gamma`` elements in meV over ``graphs`` (None if empty); ``weighted``:
        with the loss's block weights (the same as unweighted when there are none)."""
        e = self.errors(graphs, weighted=weighted)
        return None if e is None else e["weighted_mae_mev" if weighted else "mae_mev"]

    def evaluate_eigenvalues(self, graphs: list[StructureGraph]) -> float | None:
        """Mean over ``graphs`` of the eigenvalue term (meV: |e_pred - e_DFT| over the loss's
        states, shift-free if configured); None if empty."""
        e = self.errors(graphs, eigenvalues=True)
        return None if e is None else e["eigenvalue_mae_mev"]

    def _predict_gamma(self, batch) -> torch.Tensor:
        out = self.model(batch)
        return gamma_flat(batch, out["onsite"], out["offsite"], self.model.norb)

    @property
    def selection_metric(self) -> str:
        """History key of the metric that picks best.pt (see ``_monitor``)."""
        if not self.val_graphs:
            return "train_mae_mev"
        if self.config.eigenvalue_weight > 0:
            return "val_objective_mev"
        return "val_weighted_mae_mev" if self.config.block_weighted else "val_mae_mev"

    def _monitor(self, train_mae: float) -> tuple[float, dict]:
        """(selection metric, validation metrics in meV) after an epoch.

        The selection metric (best.pt, LR schedule, early stopping) is the loss's own
        measure on the validation set: the H MAE, weighted like the loss when it is
        block-weighted, plus ``eigenvalue_weight`` times the eigenvalue term when there is
        one; the training H MAE when there is no validation set."""
        cfg = self.config
        val = self.errors(self.val_graphs, weighted=cfg.block_weighted, eigenvalues=cfg.eigenvalue_weight > 0)
        if val is None:
            return train_mae, {"val_mae_mev": None}
        metrics = {"val_mae_mev": val["mae_mev"]}
        if cfg.block_weighted:
            metrics["val_weighted_mae_mev"] = val["weighted_mae_mev"]
        if cfg.eigenvalue_weight > 0:
            metrics["val_eigenvalue_mae_mev"] = val["eigenvalue_mae_mev"]
            h_part = val["weighted_mae_mev"] if cfg.block_weighted else val["mae_mev"]
            metrics["val_objective_mev"] = h_part + cfg.eigenvalue_weight * val["eigenvalue_mae_mev"]
        return metrics[self.selection_metric], metrics

    # --- checkpoints ------------------------------------------------------------
    def _metrics(self) -> dict:
        return {"history": self.history, "selection_metric": self.selection_metric,
                "best_selection_mev": self.best, "best_epoch": self.best_epoch,
                "split": self.split, "names": {k: [self.graphs[i].name for i in v]
                                               for k, v in self.split.items()},
                "num_parameters": count_parameters(self.model), "train_config": self.config.to_dict()}

    def _save(self, best: bool):
        training = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                    "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                    "epoch": self.epoch, "best": self.best, "best_epoch": self.best_epoch,
                    "bad_epochs": self.bad_epochs, "history": self.history, "split": self.split,
                    "label_files": (None if any(g.source is None for g in self.graphs)
                                    else [list(g.source) for g in self.graphs])}
        ckpt = checkpoint_dict(self.model, self.settings, self.normalisation, self._metrics(), training)
        save_checkpoint(self.output / CHECKPOINT, ckpt)
        if best:
            ckpt = checkpoint_dict(self.model, self.settings, self.normalisation, self._metrics())
            save_checkpoint(self.output / BEST, ckpt)

    # --- the loop -------------------------------------------------------------------
    def run(self, resume: bool = False) -> dict:
        """Train to ``epochs`` (or early stop); return the summary also written to metrics.json."""
        cfg = self.config
        self.output.mkdir(parents=True, exist_ok=True)
        last = self.output / CHECKPOINT
        if resume and last.exists():
            ckpt = read_checkpoint(last)
            self._keep_labels_of_run(ckpt)
            self._resume_state(ckpt)
            log.info("resuming %s at epoch %d", self.output, self.epoch)
        else:
            if resume:
                log.warning("no checkpoint in %s; starting fresh", self.output)
            self._fresh_state()
        log.info("training on %d / validating on %d / testing on %d structures; %d parameters",
                 len(self.train_graphs), len(self.val_graphs), len(self.test_graphs),
                 count_parameters(self.model))
        bar = _progress(range(self.epoch, cfg.epochs), cfg.progress, self.output.name)
        for _ in bar:
            if self._stopped():
                break
            t0 = time.perf_counter()
            train_mae = self.train_epoch()
            monitor, val = self._monitor(train_mae)
            val_mae = val["val_mae_mev"]
            self.scheduler.step(monitor)
            self.epoch += 1
            improved = monitor < self.best
            if improved:
                self.best, self.best_epoch, self.bad_epochs = monitor, self.epoch, 0
            else:
                self.bad_epochs += 1
            self.history.append({"epoch": self.epoch, "train_mae_mev": train_mae, **val,
                                 "lr": self.optimizer.param_groups[0]["lr"],
                                 "wall_s": time.perf_counter() - t0})
            self._save(best=improved)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(train=f"{train_mae:.3f}", val="-" if val_mae is None else f"{val_mae:.3f}",
                                lr=f"{self.optimizer.param_groups[0]['lr']:.1e}")
        self.polish()
        return self.finish()

    def polish(self) -> None:
        """Full-batch L-BFGS on the training-set mean squared H^Gamma error (``lbfgs_steps``)."""
        cfg = self.config
        if cfg.lbfgs_steps <= 0 or any(h.get("phase") == "lbfgs" for h in self.history):
            return
        best_path = self.output / BEST
        if best_path.exists():
            self.model.load_state_dict(read_checkpoint(best_path)["state_dict"])
        t0 = time.perf_counter()
        self.model.train()
        batches = [(batch, self._weights(chunk)) for chunk, batch in self._batches(self.train_graphs, shuffle=False)]
        n_total = sum(b.hamiltonian.numel() if w is None else float(w.sum()) for b, w in batches)
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=cfg.lbfgs_steps, history_size=50,
                                line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)

        def closure():
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for batch, w in batches:  # gradients accumulate batch by batch: memory of one batch
                sq = gamma_errors(self.model, batch).square()
                part = (sq if w is None else w * sq).sum() / n_total
                part.backward()
                total += float(part.detach())
            return torch.tensor(total)

        opt.step(closure)
        train_mae = self.evaluate(self.train_graphs)
        monitor, val = self._monitor(train_mae)
        val_mae = val["val_mae_mev"]
        improved = monitor < self.best
        if improved:
            self.best, self.best_epoch = monitor, self.epoch
        self.history.append({"epoch": self.epoch, "phase": "lbfgs", "train_mae_mev": train_mae,
                             **val, "lr": None, "wall_s": time.perf_counter() - t0,
                             "improved": improved})
        log.info("L-BFGS polish (%d steps, %.0f s): train %.4f / val %s meV MAE%s", cfg.lbfgs_steps,
                 time.perf_counter() - t0, train_mae, _fmt(val_mae), "" if improved else " (kept Adam weights)")
        self._save(best=improved)

    def _stopped(self) -> bool:
        lr = self.optimizer.param_groups[0]["lr"]
        patience_over = self.bad_epochs >= self.config.early_stopping_patience
        lr_floor = lr <= self.config.min_lr * (1 + 1e-9) and self.bad_epochs > self.config.scheduler_patience
        if patience_over or lr_floor:
            log.info("early stopping at epoch %d (best %s %.4f meV at epoch %d)", self.epoch,
                     self.selection_metric, self.best, self.best_epoch)
            return True
        return False

    def finish(self) -> dict:
        """Evaluate the best model on every split; write metrics.json; return the summary."""
        best_path = self.output / BEST
        if best_path.exists():
            self.model.load_state_dict(read_checkpoint(best_path)["state_dict"])
        summary = {
            "epochs": self.epoch, "best_epoch": self.best_epoch,
            "train_mae_mev": self.evaluate(self.train_graphs),
            "val_mae_mev": self.evaluate(self.val_graphs),
            "test_mae_mev": self.evaluate(self.test_graphs),
            "num_parameters": count_parameters(self.model),
        }
        if best_path.exists():
            ckpt = read_checkpoint(best_path)
            ckpt["metrics"] = {**ckpt["metrics"], "summary": summary}
            save_checkpoint(best_path, ckpt)
        write_json(self.output / METRICS, {**self._metrics(), "summary": summary})
        log.info("%s: train %.4f / val %s / test %s meV MAE", self.output, summary["train_mae_mev"],
                 _fmt(summary["val_mae_mev"]), _fmt(summary["test_mae_mev"]))
        return summary


def train(config: TrainConfig, resume: bool = False, output: str | Path | None = None) -> dict:
    """Train one model; see ``Trainer``."""
    return Trainer(config, output).run(resume=resume)


def train_committee(config: TrainConfig, members: int, resume: bool = False) -> list[dict]:
    """Train ``members`` models with seeds ``seed .. seed + members - 1`` into ``output/member_XX``."""
    out = []
    for k in range(members):
        cfg = config.with_(seed=config.seed + k)
        out.append(train(cfg, resume=resume, output=Path(config.output) / member_dir(k)))
    return out


def member_dir(k: int) -> str:
    return f"member_{k:02d}"


def _progress(it, enabled: bool, desc: str):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, desc=desc, unit="epoch", dynamic_ncols=True)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


__all__ = ["TrainConfig", "Trainer", "train", "train_committee", "member_dir", "MEV"]
