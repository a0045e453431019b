"""Train MACE force fields with mace-torch's own ``mace_run_train``, one subprocess per model.

Nothing of MACE is re-implemented here: :func:`mace_arguments` turns a
:class:`MACETrainingSettings` into the command line of ``mace_run_train``
(``python -m mace.cli.run_train``), and :func:`train_mace` runs it, streams its
log into a progress bar, and makes the run resumable:

- ``--restart_latest`` is always passed, so an interrupted run continues from
  mace's latest checkpoint (saved at evaluation epochs when the validation
  loss improves);
- ``train_args.json`` records the exact argument list; resuming with different
  arguments is a ``ValueError`` (start a new folder instead);
- ``done.json`` is written atomically after mace exits successfully; a folder
  with it is not retrained.

Defaults are for CPU and small data sets (tens to hundreds of structures): a
small float64 MACE (16 channels, L_max = 1 messages, correlation order 2, two
interactions, r_max = 5 Å), energies and forces weighted equally (10/10), no
stress (our Gamma labels have none). ``E0s = "average"``: the isolated-atom
energies are fitted by least squares to the training energies. Our labels are
GTH-pseudopotential total energies of periodic cells; a consistent isolated-atom
reference would need spin-polarised atoms in a large vacuum box with the same
grid, and the model only ever compares energies of one composition (MD,
relaxations) or composition changes whose chemical potentials come from separate
reference calculations. Note for fixed-stoichiometry data (GaAs without
defects) the fit is degenerate and mace-torch returns the least-norm solution;
include defect cells to make it well posed. Units: Å, eV, eV/Å throughout.
"""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from tqdm.auto import tqdm

from mlh_ipi.atomic_io import write_json
from mlh_ipi.childproc import die_with_parent
from mlh_ipi.strict import from_mapping

log = logging.getLogger(__name__)

ARGS_FILE = "train_args.json"
DONE_FILE = "done.json"
LOG_FILE = "mace_run_train.log"
_EPOCH = re.compile(r"Epoch (\d+):.*RMSE_E_per_atom=\s*([-\d.naninf]+) meV.*RMSE_F=\s*([-\d.naninf]+) meV")


@dataclass(frozen=True)
class MACETrainingSettings:
    """Settings passed to ``mace_run_train``; names follow its command-line options.

    Attributes
    ----------
    r_max : cutoff radius in Å (``--r_max``).
    num_channels, max_L, correlation, num_interactions : model size; the defaults
        are a small model that trains in seconds per epoch on a CPU for 8-64 atoms.
    E0s : isolated-atom energies: ``"average"`` (least-squares fit, the default,
        see the module docstring), ``"estimated"``, or a dict literal such as
        ``"{14: -100.1}"`` in eV.
    max_num_epochs, batch_size, lr : optimisation.
    energy_weight, forces_weight : loss weights (mace's ``weighted`` loss).
    valid_fraction : fraction of the training file held out when no
        validation file is given.
    eval_interval : epochs between validation evaluations (and checkpoints).
    default_dtype : ``float64`` (default; forces for MD) or ``float32``.
    device : ``cpu`` or ``cuda``.
    extra_args : further ``mace_run_train`` options, passed verbatim
        (e.g. ``["--swa", "--start_swa", "80"]``).
    """

    r_max: float = 5.0
    num_channels: int = 16
    max_L: int = 1
    correlation: int = 2
    num_interactions: int = 2
    E0s: str = "average"
    max_num_epochs: int = 100
    batch_size: int = 2
    lr: float = 0.01
    energy_weight: float = 10.0
    forces_weight: float = 10.0
    valid_fraction: float = 0.1
    eval_interval: int = 5
    default_dtype: str = "float64"
    device: str = "cpu"
    extra_args: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_args", tuple(str(a) for a in self.extra_args))
        if self.r_max <= 0:
            raise ValueError(f"r_max must be positive (Å), got {self.r_max}")
        if self.max_num_epochs < 1:
            raise ValueError(f"max_num_epochs must be >= 1, got {self.max_num_epochs}")
        if self.default_dtype not in ("float32", "float64"):
            raise ValueError(f"default_dtype must be float32 or float64, got {self.default_dtype!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "MACETrainingSettings":
        return from_mapping(cls, d, "MACE training setting")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["extra_args"] = list(self.extra_args)
        return d


def mace_arguments(settings: MACETrainingSettings, *, name: str, work_dir: str | Path,
                   train_file: str | Path, seed: int, valid_file: str | Path | None = None,
                   test_file: str | Path | None = None) -> list[str]:
    """The ``mace_run_train`` argument list (without the program name)."""
    s = settings
    work_dir = Path(work_dir)
    args = [
        "--name", name, "--seed", str(seed),
        "--work_dir", str(work_dir), "--model_dir", str(work_dir),
        "--checkpoints_dir", str(work_dir / "checkpoints"), "--log_dir", str(work_dir / "logs"),
        "--results_dir", str(work_dir / "results"),
        "--train_file", str(train_file),
        "--energy_key", "REF_energy", "--forces_key", "REF_forces",
        "--model", "MACE", "--E0s", s.E0s, "--r_max", repr(float(s.r_max)),
        "--num_channels", str(s.num_channels), "--max_L", str(s.max_L),
        "--correlation", str(s.correlation), "--num_interactions", str(s.num_interactions),
        "--max_num_epochs", str(s.max_num_epochs), "--batch_size", str(s.batch_size),
        "--valid_batch_size", str(max(s.batch_size, 4)), "--lr", repr(float(s.lr)),
        "--energy_weight", repr(float(s.energy_weight)), "--forces_weight", repr(float(s.forces_weight)),
        "--eval_interval", str(s.eval_interval), "--default_dtype", s.default_dtype,
        "--device", s.device, "--save_cpu", "--restart_latest",
    ]
    if valid_file is not None:
        args += ["--valid_file", str(valid_file)]
    else:
        args += ["--valid_fraction", repr(float(s.valid_fraction))]
    if test_file is not None:
        args += ["--test_file", str(test_file)]
    return args + list(s.extra_args)


def model_path(work_dir: str | Path, name: str = "mace") -> Path:
    """The CPU model file ``mace_run_train`` writes for run ``name`` in ``work_dir``."""
    return Path(work_dir) / f"{name}.model"


def is_trained(work_dir: str | Path, name: str = "mace") -> bool:
    return (Path(work_dir) / DONE_FILE).exists() and model_path(work_dir, name).exists()


def train_mace(train_file: str | Path, work_dir: str | Path, settings: MACETrainingSettings,
               *, seed: int = 0, name: str = "mace", valid_file: str | Path | None = None,
               test_file: str | Path | None = None, threads: int = 1,
               progress: bool = True) -> Path:
    """Train one MACE model on the extxyz ``train_file`` (``REF_energy``/``REF_forces``); return its path.

    Resumable (see the module docstring). ``threads`` sets OpenMP/torch threads
    of the subprocess. Raises ``RuntimeError`` with the tail of mace's log if
    training fails, ``ValueError`` when ``work_dir`` holds a run with other
    arguments.
    """
    work_dir = Path(work_dir).resolve()
    train_file = Path(train_file).resolve()
    if not train_file.exists():
        raise FileNotFoundError(f"no such training file: {train_file}")
    valid_file = Path(valid_file).resolve() if valid_file is not None else None
    test_file = Path(test_file).resolve() if test_file is not None else None
    args = mace_arguments(settings, name=name, work_dir=work_dir, train_file=train_file,
                          seed=seed, valid_file=valid_file, test_file=test_file)
    _check_args(work_dir, args)
    if is_trained(work_dir, name):
        log.info("%s: already trained, skipping", work_dir)
        return model_path(work_dir, name)
    work_dir.mkdir(parents=True, exist_ok=True)
    resumed = any((work_dir / "checkpoints").glob("*.pt"))
    log.info("%s MACE training in %s (seed %d, %d epochs)", "resuming" if resumed else "starting",
             work_dir, seed, settings.max_num_epochs)
    t0 = time.perf_counter()
    _run(args, work_dir, settings.max_num_epochs, threads, progress, desc=f"mace seed {seed}")
    path = model_path(work_dir, name)
    if not path.exists():
        raise RuntimeError(f"mace_run_train finished but wrote no model {path}")
    write_json(work_dir / DONE_FILE, {"model": path.name, "seed": seed,
                                      "seconds": round(time.perf_counter() - t0, 1),
                                      "settings": settings.to_dict()})
    return path


def train_committee(train_file: str | Path, out: str | Path, settings: MACETrainingSettings,
                    size: int, *, seed: int = 0, valid_file: str | Path | None = None,
                    test_file: str | Path | None = None, threads: int = 1,
                    progress: bool = True) -> list[Path]:
    """Train ``size`` models with seeds ``seed, seed+1, ...`` into ``out/member_k``; return their paths.

    Members differ in their initial weights and, without a ``valid_file``, in
    the random train/validation split. Finished members are skipped on rerun.
    """
    if size < 1:
        raise ValueError(f"committee size must be >= 1, got {size}")
    paths = []
    for k in range(size):
        paths.append(train_mace(train_file, Path(out) / f"member_{k}", settings, seed=seed + k,
                                valid_file=valid_file, test_file=test_file, threads=threads,
                                progress=progress))
    return paths


def committee_paths(out: str | Path, name: str = "mace") -> list[Path]:
    """Model files of the finished members under ``out`` (``member_*``), in member order."""
    members = sorted(Path(out).glob("member_*"), key=lambda p: int(p.name.split("_")[1]))
    return [model_path(m, name) for m in members if is_trained(m, name)]


def _check_args(work_dir: Path, args: Sequence[str]) -> None:
    """Refuse ``work_dir`` if it holds a run with other ``mace_run_train`` arguments.

    Paths are compared relative to ``work_dir``, so a run folder moved together with
    its training files (another checkout, another machine) still resumes."""
    path = work_dir / ARGS_FILE
    new = _portable(args, work_dir)
    if path.exists():
        old = _portable(json.loads(path.read_text())["args"], work_dir)
        if old != new:
            a, b = _options(old), _options(new)
            changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
            raise ValueError(f"{work_dir} holds a MACE run with other arguments "
                             f"(differ: {changed}); use a new folder")
    else:
        write_json(path, {"args": new})


def _portable(args: Sequence[str], work_dir: Path) -> list[str]:
    """``args`` with absolute paths rewritten relative to ``work_dir``."""
    return [os.path.relpath(a, work_dir) if os.path.isabs(a) else a for a in args]


def _options(args: Sequence[str]) -> dict[str, list[str]]:
    """``--opt v1 v2 --flag`` -> ``{"--opt": ["v1", "v2"], "--flag": []}``."""
    out: dict[str, list[str]] = {}
    key = ""
    for a in args:
        if a.startswith("--"):
            key = a
            out[key] = []
        else:
            out.setdefault(key, []).append(a)
    return out


def _run(args: Sequence[str], work_dir: Path, epochs: int, threads: int, progress: bool,
         desc: str) -> None:
    cmd = [sys.executable, "-m", "mace.cli.run_train", *args]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("PYTHONWARNINGS", "ignore")
    tail: deque[str] = deque(maxlen=30)
    bar = tqdm(total=epochs, desc=desc, unit="epoch", disable=not progress)
    with open(work_dir / LOG_FILE, "a") as logfile, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            cwd=work_dir, preexec_fn=die_with_parent) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                logfile.write(line)
                tail.append(line.rstrip())
                m = _EPOCH.search(line)
                if m:
                    bar.n = min(int(m.group(1)) + 1, epochs)
                    bar.set_postfix_str(f"val E {m.group(2)} meV/atom, F {m.group(3)} meV/Å")
                    bar.refresh()
                    log.debug("%s: epoch %s", work_dir.name, m.group(1))
            rc = proc.wait()
        except BaseException:
            proc.kill()  # interrupted: stop mace; its latest checkpoint lets us resume
            raise
        finally:
            bar.close()
    if rc != 0:
        raise RuntimeError(f"mace_run_train failed (exit {rc}) in {work_dir}:\n" + "\n".join(tail))
