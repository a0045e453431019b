"""Production MD in LAMMPS with MACE forces: temperature series, resume, hooks.

:func:`run_md` runs a LAMMPS input script (``lammps_inputs/md_*.in``) once per
temperature, each in its own folder ``<out>/T<T>K/``. The script declares
``fix ID all external pf/callback 1 1``; the launcher

1. writes the structure as a LAMMPS data file (types in ``type_to_element``
   order, masses included) unless it already is one;
2. executes the script up to its first ``run`` line, with the launcher's
   variables (``data``, ``T``, ``steps``, ``seed``, ``out``, ``rcut``, ``resume``,
   ``restart`` and the caller's extras) passed as ``-var`` command-line values;
3. attaches :class:`~mlh_ipi.lammps.mace_callback.MACECallback` to the fix (MACE
   energy, forces and virial), then calls every hook ``hook(lmp)`` (extra fixes,
   e.g. the snapshot hook), then executes the rest of the script (``run ${steps}
   upto`` and the final ``write_restart``).

Resume: the scripts write ``restart.<step>`` files. If a folder already holds
one, the run continues from the newest readable one up to the requested step
(``run N upto``); a folder whose newest restart is at or past ``steps`` is
complete and is skipped. After a run only the two newest restart files are
kept (the older one is the fallback if the newest is unreadable). ``md.json``
in each folder records the settings; a resume with another type map is refused.

Units: temperatures in K, time step in ps, energies eV, lengths Angstrom,
pressures bar (LAMMPS metal units).
"""
from __future__ import annotations

import logging
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ase.data import atomic_numbers

from mlh_ipi.atomic_io import atomic_path, write_json
from mlh_ipi.lammps.mace_callback import MACECallback
from mlh_ipi.lammps.mace_model import MACEPotential
from mlh_ipi.lammps.runtime import lammps_script, open_lammps
from mlh_ipi.threads import configure_threads

log = logging.getLogger(__name__)

Hook = Callable[[object], None]  # installer: hook(lmp) adds fixes/computes before `run`

LAMMPS_DATA_SUFFIXES = (".data", ".lmp", ".lammps")
_FIX_EXTERNAL = re.compile(r"^\s*fix\s+(\S+)\s+\S+\s+external\s+pf/callback\b", re.M)
_RUN_LINE = re.compile(r"^\s*(run|rerun|minimize)\b")
_RESTART = re.compile(r"^restart\.(\d+)$")
KEEP_RESTARTS = 2  # newest restart files kept after a run (the older one is the fallback)
_LAUNCHER_VARS = ("data", "resume", "restart", "T", "steps", "seed", "out", "rcut")


@dataclass
class MDRunResult:
    """Outcome of one temperature: folder, steps, timing.

    ``wall_s``: the whole ``run`` (setup force call included); ``ms_per_step``:
    LAMMPS's loop time per MD step (setup excluded); ``mace_ms_per_call``: the
    callback's mean time (MACE graph + model + copying).
    """

    folder: str
    temperature_K: float
    start_step: int
    final_step: int
    resumed_from: str | None
    skipped: bool
    wall_s: float = 0.0
    ms_per_step: float | None = None
    mace_ms_per_call: float | None = None
    type_to_element: list[str] = field(default_factory=list)


def split_script(text: str) -> tuple[str, str, str]:
    """``(setup, run_part, fix_id)``: the script before / from its first run line.

    Continuation lines (``&``) are joined first. The ``fix ... external
    pf/callback`` must be declared in the setup part.
    """
    text = re.sub(r"&[ \t]*\n", " ", text)
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if _RUN_LINE.match(line.split("#", 1)[0]):
            break
    else:
        raise ValueError("the LAMMPS script has no run/minimize line")
    setup, run_part = "\n".join(lines[:k]) + "\n", "\n".join(lines[k:]) + "\n"
    ids = _FIX_EXTERNAL.findall("\n".join(l.split("#", 1)[0] for l in lines[:k]))
    if len(ids) != 1:
        raise ValueError("the LAMMPS script must declare exactly one "
                         "'fix ID group external pf/callback Nevery Napply' before its first "
                         f"run line (found {len(ids)})")
    return setup, run_part, ids[0]


def restart_files(folder: Path) -> list[tuple[int, Path]]:
    """``[(step, path)]`` of ``restart.<step>`` files in ``folder``, newest first."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _RESTART.match(p.name))]
    return sorted(found, reverse=True)


def write_data_file(structure, path: Path, type_to_element: Sequence[str] | None = None) -> list[str]:
    """Write an ``ase.Atoms`` (or a file ASE reads) as LAMMPS data; return the type map.

    Types follow ``type_to_element`` or, by default, the structure's elements
    sorted by atomic number. The cell becomes a LAMMPS (possibly triclinic) box.
    """
    import ase.io
    from ase import Atoms

    atoms = structure if isinstance(structure, Atoms) else ase.io.read(structure)
    present = sorted(set(atoms.get_chemical_symbols()), key=lambda s: atomic_numbers[s])
    types = list(type_to_element) if type_to_element else present
    missing = [s for s in present if s not in types]
    if missing:
        raise ValueError(f"structure contains {missing}, which type_to_element {types} lacks")
    if not all(atoms.pbc):
        raise ValueError("the structure must be periodic in all three directions")
    with atomic_path(path) as tmp:
        ase.io.write(tmp, atoms, format="lammps-data", specorder=types, masses=True,
                     atom_style="atomic", units="metal")
    return types


def _is_lammps_data(path: Path) -> bool:
    return path.suffix.lower() in LAMMPS_DATA_SUFFIXES or path.name.startswith("data.")


def prepare_structure(structure, folder: Path,
                      type_to_element: Sequence[str] | None) -> tuple[Path, list[str] | None]:
    """Data file for the script and the type map (None: infer from the masses)."""
    if not isinstance(structure, (str, Path)) or not _is_lammps_data(Path(structure)):
        data = folder / "structure.data"
        return data, write_data_file(structure, data, type_to_element)
    path = Path(structure).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"structure file not found: {path}")
    return path, list(type_to_element) if type_to_element else None


def run_md(script: str | Path, model_paths: str | Path | Sequence[str | Path], structure,
           temperatures: Iterable[float], steps: int, out: str | Path, *,
           type_to_element: Sequence[str] | None = None, seed: int = 12345,
           variables: dict[str, object] | None = None, hooks: Sequence[Hook] = (),
           device: str = "cpu", dtype: str = "float64", threads: int | None = None,
           analyse: bool = True, progress: bool = True) -> list[MDRunResult]:
    """Run ``script`` with MACE forces at each temperature (K) up to step ``steps``.

    ``structure``: ``ase.Atoms``, a file ASE reads (extxyz, cif, ...), or a LAMMPS
    data file (``*.data``/``*.lmp``; then ``type_to_element`` or the masses give
    the elements). ``model_paths``: one MACE model file or several (committee
    mean). ``variables``: extra script variables (``{"dt": 0.0005}``). ``hooks``:
    callables ``hook(lmp)`` run after the script's setup and the MACE callback,
    before ``run``. ``threads`` sets torch/OpenMP threads (None: leave the current
    setting; the ``mlh-ipi`` command sets all available cores).
    With ``analyse`` each finished folder gets the physics checks of
    :func:`mlh_ipi.lammps.analysis.analyse_run` (JSON + PNG).
    """
    if threads is not None:
        configure_threads(threads)
    script = lammps_script(script).resolve()
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    temperatures = [float(t) for t in temperatures]
    if not temperatures or any(not t > 0 for t in temperatures):
        raise ValueError(f"temperatures must be positive (K), got {temperatures}")
    extra = {str(k): str(v) for k, v in (variables or {}).items()}
    clash = set(extra) & set(_LAUNCHER_VARS)
    if clash:
        raise ValueError(f"variables {sorted(clash)} are set by the launcher; use the "
                         f"arguments instead")
    setup, run_part, fix_id = split_script(script.read_text())
    potential = MACEPotential(model_paths, device=device, dtype=dtype)
    out = Path(out).resolve()
    for name, path in (("output folder", out), ("structure", structure)):
        if isinstance(path, (str, Path)) and any(c.isspace() for c in str(Path(path).resolve())):
            raise ValueError(f"{name} path {str(path)!r} contains whitespace, which LAMMPS "
                             f"commands cannot take; use another folder")
    out.mkdir(parents=True, exist_ok=True)
    data, types = prepare_structure(structure, out, type_to_element)
    if types is not None:
        potential.check_species(types, where=f"type_to_element {types}")

    results = []
    for temperature in temperatures:
        folder = out / f"T{temperature:g}K"
        result = _run_temperature(setup, run_part, fix_id, potential, data, types, temperature,
                                  int(steps), folder, seed, extra, hooks, script, progress)
        results.append(result)
        # a complete run skipped here keeps the analysis it had: its log.lammps is not tracked by
        # git, so a run folder committed and checked out elsewhere has none to read again
        if analyse and result.final_step > 0 and not (result.skipped
                                                      and (folder / "analysis.json").exists()):
            from mlh_ipi.lammps.analysis import analyse_run

            analyse_run(folder)
    write_json(out / "md_summary.json", [asdict(r) for r in results])
    return results


def _run_temperature(setup: str, run_part: str, fix_id: str, potential: MACEPotential,
                     data: Path, types: list[str] | None, temperature: float, steps: int,
                     folder: Path, seed: int, extra: dict[str, str], hooks: Sequence[Hook],
                     script: Path, progress: bool) -> MDRunResult:
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "md.json"
    restarts = restart_files(folder)
    if restarts:
        _check_resume(meta_path, temperature, types)
        if restarts[0][0] >= steps:
            log.info("%s: complete (restart at step %d >= %d), skipped", folder.name,
                     restarts[0][0], steps)
            return MDRunResult(str(folder), temperature, restarts[0][0], restarts[0][0],
                               str(restarts[0][1]), True, type_to_element=types or [])
    else:
        for name in ("log.lammps", "traj.lammpstrj"):  # leftovers of a run that never checkpointed
            if (folder / name).exists():
                shutil.move(folder / name, folder / f"{name}.old")

    last_err = None
    for restart in ([p for _, p in restarts] or [None]):
        try:
            return _run_once(setup, run_part, fix_id, potential, data, types, temperature,
                             steps, folder, seed, extra, hooks, script, restart, progress)
        except _RestartUnreadable as err:
            log.warning("%s: cannot read %s (%s); trying an older restart", folder.name,
                        restart, err)
            last_err = err
    raise RuntimeError(f"{folder}: no readable restart file") from last_err


class _RestartUnreadable(RuntimeError):
    pass


def _check_resume(meta_path: Path, temperature: float, types: list[str] | None) -> None:
    import json

    if not meta_path.is_file():
        return
    meta = json.loads(meta_path.read_text())
    if abs(float(meta["temperature_K"]) - temperature) > 1e-9:
        raise ValueError(f"{meta_path.parent} holds a run at {meta['temperature_K']} K, "
                         f"not {temperature} K; use another --out folder")
    if types is not None and meta.get("type_to_element") not in (None, types):
        raise ValueError(f"{meta_path.parent} was run with types {meta['type_to_element']}, "
                         f"not {types}")


def _run_once(setup: str, run_part: str, fix_id: str, potential: MACEPotential, data: Path,
              types: list[str] | None, temperature: float, steps: int, folder: Path, seed: int,
              extra: dict[str, str], hooks: Sequence[Hook], script: Path,
              restart: Path | None, progress: bool) -> MDRunResult:
    values = {**extra, "data": str(data), "resume": "1" if restart else "0",
              "restart": str(restart) if restart else "none", "T": repr(temperature),
              "steps": str(steps), "seed": str(int(seed)), "out": str(folder),
              "rcut": f"{potential.r_max:.6g}"}
    cmdargs = []
    for name, value in values.items():
        cmdargs += ["-var", name, value]
    lmp = open_lammps(cmdargs)
    try:
        try:
            lmp.commands_string(setup)
        except Exception as err:
            if restart is not None and ("restart file" in str(err).lower()
                                        or "read_restart" in str(err)):
                raise _RestartUnreadable(str(err)) from err
            raise
        callback = MACECallback(lmp, fix_id, potential, types)
        callback.attach()
        for hook in hooks:
            hook(lmp)
        start_step = int(lmp.extract_global("ntimestep"))
        write_json(folder / "md.json", {
            "script": str(script), "models": [str(p) for p in potential.model_paths],
            "temperature_K": temperature, "steps": steps, "seed": int(seed),
            "type_to_element": callback.type_to_element, "variables": extra,
            "data": str(data), "natoms": int(lmp.get_natoms())})
        log.info("%s: %d atoms, steps %d -> %d%s", folder.name, lmp.get_natoms(), start_step,
                 steps, f" (resumed from {restart.name})" if restart else "")
        bar = _progress_bar(callback, start_step, steps, folder.name) if progress else None
        t0 = time.perf_counter()
        try:
            lmp.commands_string(run_part)
        except Exception as err:
            callback.raise_if_failed()
            raise RuntimeError(f"LAMMPS failed in {folder}: {err}") from err
        finally:
            if bar is not None:
                bar.close()
        wall = time.perf_counter() - t0
        callback.raise_if_failed()
        for hook in hooks:  # hooks that record their own callback errors (SnapshotHook)
            check = getattr(hook, "raise_if_failed", None)
            if callable(check):
                check()
        final_step = int(lmp.extract_global("ntimestep"))
    finally:
        lmp.close()
    for _step, old in restart_files(folder)[KEEP_RESTARTS:]:
        old.unlink()
    n = max(final_step - start_step, 0)
    from mlh_ipi.lammps.analysis import read_loop_times

    loops = read_loop_times(folder / "log.lammps")  # LAMMPS's timing of the steps, no setup
    loop_s = loops[-1][0] if loops and loops[-1][1] == n else wall
    return MDRunResult(
        str(folder), temperature, start_step, final_step, str(restart) if restart else None,
        False, wall, 1e3 * loop_s / n if n else None,
        1e3 * callback.seconds / callback.n_calls if callback.n_calls else None,
        callback.type_to_element)


def single_point(script: str | Path, model_paths, structure, folder: str | Path, *,
                 type_to_element: Sequence[str] | None = None,
                 variables: dict[str, object] | None = None) -> dict:
    """Energy, forces and virial pressure at step 0 of ``script`` (``run 0``), through LAMMPS.

    Sets the script up exactly as :func:`run_md` does (data file in ``folder``),
    attaches MACE, runs zero steps and returns ``energy_ev`` (LAMMPS ``pe``),
    ``forces_ev_per_a`` (N, 3, ordered by atom ID), ``virial_pressure_bar`` (3, 3,
    the configurational part only: ``compute pressure NULL virial``),
    ``type_to_element`` and ``cell`` (3, 3, the LAMMPS box). Used to check the
    coupling against ``MACECalculator``. The script's other fixes are removed
    before ``run 0``: a thermostat such as ``fix langevin`` adds forces of its own.
    """
    import numpy as np

    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    setup, _run_part, fix_id = split_script(lammps_script(script).read_text())
    potential = MACEPotential(model_paths)
    data, types = prepare_structure(structure, folder, type_to_element)
    values = {**{str(k): str(v) for k, v in (variables or {}).items()}, "data": str(data),
              "resume": "0", "restart": "none", "T": "300.0", "steps": "0", "seed": "1",
              "out": str(folder), "rcut": f"{potential.r_max:.6g}"}
    cmdargs = [a for name, value in values.items() for a in ("-var", name, value)]
    lmp = open_lammps(cmdargs)
    try:
        lmp.commands_string(setup)
        callback = MACECallback(lmp, fix_id, potential, types).attach()
        for other in set(lmp.available_ids("fix")) - {fix_id, "mace_halt"}:
            lmp.command(f"unfix {other}")  # e.g. fix langevin adds drag and noise forces
        lmp.command("compute mlh_pvir all pressure NULL virial")
        lmp.command("run 0")
        callback.raise_if_failed()
        n = int(lmp.get_natoms())
        forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
        p = np.array(lmp.numpy.extract_compute("mlh_pvir", 0, 1), dtype=float)
        from mlh_ipi.lammps.mace_callback import box_cell

        return {"energy_ev": float(lmp.get_thermo("pe")), "forces_ev_per_a": forces,
                "virial_pressure_bar": np.array([[p[0], p[3], p[4]], [p[3], p[1], p[5]],
                                                 [p[4], p[5], p[2]]]),
                "type_to_element": callback.type_to_element, "cell": box_cell(lmp)[1]}
    finally:
        lmp.close()


def _progress_bar(callback: MACECallback, start: int, stop: int, label: str):
    """tqdm bar advanced from the MACE callback (one update per call)."""
    from tqdm import tqdm

    bar = tqdm(total=max(stop - start, 0), desc=f"MD {label}", unit="step", leave=False,
               mininterval=2.0)
    callback.on_step = lambda step: bar.update(max(0, step - start - bar.n))
    return bar


__all__ = ["Hook", "MDRunResult", "prepare_structure", "restart_files", "run_md", "single_point",
           "split_script", "write_data_file"]
