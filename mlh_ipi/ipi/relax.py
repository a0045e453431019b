"""One fixed-cell relaxation through a real i-PI server and an ``mlh-ipi serve`` client.

``relax_with_ipi`` writes the XML, starts ``i-pi`` and the client as
subprocesses, watches both, and cleans up. If the client dies (bad input,
model mismatch) the server is stopped and the client's message is raised; if
the server dies the client exits on its own (fail-fast socket).

A finished run leaves ``result.json`` in its folder; calling again with the
same folder returns it without recomputing (resume). An interrupted run
(killed job, ended session) moves its files to ``segment_NN/`` and goes on
with the remaining step budget in one of two ways:

* from i-PI's own checkpoint of its last step (``relax.chk``, written every
  step; kept as ``resume.chk``): positions *and* the optimiser's state (L-BFGS
  history, step counter), so the run continues on the path an uninterrupted run
  takes. The properties of the checkpointed step decide which rows of the
  interrupted segment count; rows written after it are dropped.
* from the last geometry i-PI wrote (``start.extxyz``), with a fresh optimiser
  history, when no readable checkpoint matches (a run killed while writing it,
  or folders from before checkpoints). Its first row re-evaluates that geometry
  and is not counted as a step.

``init.extxyz`` stays the original start. The result counts the optimiser steps
(the start geometry included), energies and wall time of every segment. A running segment records its wall time so far in
``elapsed.json`` (every progress report, ~15 s), so an interrupted segment's wall
time survives copying the folder to another machine (file times do not; they are
the fallback) and excludes the time the job was not running.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path, write_json
from mlh_ipi.childproc import die_with_parent
from mlh_ipi.ipi.inputs import geop_xml, read_properties, read_raw_extras

log = logging.getLogger(__name__)
SOCKET_PREFIX = "/tmp/ipi_"
ELAPSED = "elapsed.json"   # wall time of the running segment so far, s
RUN = "run.json"           # how the running segment started: {"restart": "start"|"geometry"|"checkpoint"}
RESUME_CHK = "resume.chk"  # i-PI checkpoint of the last counted step of the archived segments
DENSITY_FILE = "scf_density.npz"  # engine dft: the last converged density matrix (float32), the next SCF guess


@dataclass
class RelaxResult:
    energy_ev: float                 # final potential energy (eV)
    energies_ev: list[float]         # per optimiser step
    fmax_ev_per_a: float             # final max |force component|
    steps: int
    converged: bool
    wall_s: float
    extras: dict                     # the last step's electronic extras (gap, levels, ...)
    final_structure: str             # path to the relaxed extxyz

    def atoms(self) -> Atoms:
        return read(self.final_structure)


def relax_with_ipi(atoms: Atoms, workdir: str | Path, engine: str = "mlh", model: str | None = None,
                   settings_json: str | None = None, optimizer: str = "lbfgs",
                   fmax_ev_per_a: float = 0.02, max_steps: int = 500,
                   defect_atoms: list[int] | None = None, timeout_s: float | None = None,
                   force_mode: str = "consistent") -> RelaxResult:
    """Relax ``atoms`` (fixed cell) with i-PI's optimiser and our client; resume-safe."""
    work = Path(workdir)
    done = work / "result.json"
    if done.exists():
        return load_result(work)
    work.mkdir(parents=True, exist_ok=True)
    init = work / "init.extxyz"
    segments = _archive_interrupted(work)
    address = f"mlh{os.getpid()}{uuid.uuid4().hex[:6]}"
    restart = "start"
    if segments:
        start = atoms.copy()
        start.positions = segments[-1]["last_positions"]
        first = work / "start.extxyz"
        write(first, start, format="extxyz")
        done_steps = sum(s["steps"] for s in segments)
        remaining = max(1, max_steps - done_steps)
        xml = _checkpoint_input(work / RESUME_CHK, address, remaining)
        if xml is not None:
            restart = "checkpoint"
            (work / "input.xml").write_text(xml)
            # a restarted i-PI appends to its outputs without the properties header: give it one
            header = [ln for ln in (work / segments[-1]["folder"] / "relax.out").read_text().splitlines()
                      if ln.startswith("#")]
            (work / "relax.out").write_text("".join(ln + "\n" for ln in header))
            log.info("%s: resuming after %d earlier steps from i-PI's checkpoint (optimiser state kept)",
                     work.name, done_steps)
        else:
            restart = "geometry"
            log.info("%s: resuming after %d earlier steps from the last geometry (fresh optimiser history)",
                     work.name, done_steps)
    else:
        write(init, atoms, format="extxyz")
        first, done_steps, remaining = init, 0, max_steps
    if restart != "checkpoint":
        (work / "input.xml").write_text(geop_xml(first.name, address, prefix="relax", optimizer=optimizer,
                                                 fmax_ev_per_a=fmax_ev_per_a, max_steps=max(1, remaining)))
    write_json(work / RUN, {"restart": restart})
    client_cmd = [sys.executable, "-m", "mlh_ipi.cli.main", "serve", "--template", str(first.resolve()),
                  "--engine", engine, "--unix", address, "--sockets-prefix", SOCKET_PREFIX]
    if model:
        client_cmd += ["--model", str(Path(model).resolve()), "--force-mode", force_mode]
    if settings_json:
        client_cmd += ["--settings", str(Path(settings_json).resolve())]
    if engine == "dft":  # a resumed relaxation's first SCF starts from the last converged density
        client_cmd += ["--density-file", str((work / DENSITY_FILE).resolve())]
    if defect_atoms:
        client_cmd += ["--defect-atoms", *map(str, defect_atoms)]

    t0 = time.perf_counter()
    with open(work / "ipi.log", "w") as ipi_log, open(work / "client.log", "w") as client_log:
        server = subprocess.Popen([_ipi_executable(), "input.xml"], cwd=work, stdout=ipi_log,
                                  stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        client = None
        try:
            _wait_for_socket(SOCKET_PREFIX + address, server, work)
            client = subprocess.Popen(client_cmd, cwd=work, stdout=client_log, stderr=subprocess.STDOUT,
                                      preexec_fn=die_with_parent)
            last_report, reported = time.perf_counter(), 0
            while server.poll() is None:
                if time.perf_counter() - last_report > 15:
                    reported = _report_progress(work, engine, reported)
                    write_json(work / ELAPSED, {"wall_s": time.perf_counter() - t0})
                    last_report = time.perf_counter()
                if client.poll() not in (None, 0):
                    raise RuntimeError(f"i-PI client failed (rc={client.returncode}):\n"
                                       f"{_tail(work / 'client.log')}")
                if timeout_s and time.perf_counter() - t0 > timeout_s:
                    raise TimeoutError(f"relaxation in {work} exceeded {timeout_s} s")
                time.sleep(0.2)
            if server.returncode != 0:
                raise RuntimeError(f"i-PI exited with rc={server.returncode}:\n{_tail(work / 'ipi.log')}")
            try:
                client.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        finally:
            for proc in (client, server):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            sock = Path(SOCKET_PREFIX + address)
            if sock.exists():
                sock.unlink()
    result = _collect(work, atoms, time.perf_counter() - t0, fmax_ev_per_a, segments,
                      skip_first=restart == "geometry")
    write_json(done, asdict(result))
    (work / ELAPSED).unlink(missing_ok=True)
    return result


def _checkpoint_input(chk: Path, address: str, remaining: int) -> str | None:
    """i-PI input continuing from checkpoint ``chk`` on socket ``address`` for ``remaining``
    more steps; None when there is no checkpoint or it cannot be read."""
    import xml.etree.ElementTree as ET

    root = _read_checkpoint(chk)
    if root is None:
        if chk.exists():
            log.warning("%s is not a usable i-PI checkpoint: resuming from the last geometry", chk)
        return None
    root.find("ffsocket/address").text = address
    root.find("total_steps").text = str(int(root.find("step").text) + remaining)
    return ET.tostring(root, encoding="unicode")


def _read_checkpoint(chk: Path):
    """The parsed i-PI checkpoint ``chk`` (an ``ElementTree`` root with an integer
    ``step``, a ``total_steps`` and an ``ffsocket/address``), or None if it is absent or
    unreadable (e.g. cut short by a kill)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(chk.read_text())
        int(root.find("step").text), int(root.find("total_steps").text)
        if root.find("ffsocket/address") is None:
            return None
    except (OSError, ET.ParseError, AttributeError, TypeError, ValueError):
        return None
    return root


def load_result(workdir: str | Path) -> RelaxResult:
    """The ``result.json`` of a finished relaxation folder. A folder that moved (another
    checkout, another machine) finds its ``final.extxyz`` next to the result."""
    work = Path(workdir)
    res = RelaxResult(**json.loads((work / "result.json").read_text()))
    if not Path(res.final_structure).exists() and (work / "final.extxyz").exists():
        res.final_structure = str(work / "final.extxyz")
    return res


def relaxation_trajectory(workdir: str | Path) -> list[Atoms]:
    """Every optimiser step of a finished relaxation folder, in order, as Atoms (Angstrom)
    with ``info["energy_ev"]`` and ``info["step"]``: the archived segments of interrupted
    runs first (their frames are re-read from ``segment_NN/``), then the last run."""
    work = Path(workdir)
    res = load_result(work)
    template = read(work / "init.extxyz")
    index = work / "segments.json"
    frames = []
    records = json.loads(index.read_text()) if index.exists() else []
    current = _read_ipi_xyz(work / "relax.pos_0.xyz", cell=template.cell.array)
    current = current[1:] if _run_restart(work, len(records)) == "geometry" else current
    frames = []
    for seg in _normalised(records):
        skip = int(seg["skip_first"])
        frames += _read_ipi_xyz(work / seg["folder"] / "relax.pos_0.xyz", complete_only=True,
                                cell=template.cell.array)[skip:skip + seg["steps"]]
    frames += current
    if len(frames) != len(res.energies_ev) and records and "skip_first" not in records[0]:
        # finished before checkpoint resumes: its result counted each geometry restart's
        # re-evaluation of the previous last geometry as a step; give the frames it counted
        frames = [f for seg in records for f in _read_ipi_xyz(
            work / seg["folder"] / "relax.pos_0.xyz", complete_only=True,
            cell=template.cell.array)[:seg["steps"]]] + current
    if len(frames) != len(res.energies_ev):
        raise ValueError(f"{work}: {len(frames)} frames but {len(res.energies_ev)} energies")
    out = []
    for step, (pos, energy) in enumerate(zip(frames, res.energies_ev)):
        at = template.copy()
        at.positions = pos
        at.info.update({"energy_ev": float(energy), "step": step})
        out.append(at)
    return out


def _run_restart(work: Path, index: int) -> str:
    """How the run in ``work`` (the ``index``-th segment) started: its ``run.json``, else
    what runs before checkpoints did (segment 0 from the start, later ones from a geometry)."""
    try:
        return json.loads((work / RUN).read_text())["restart"]
    except (OSError, ValueError, KeyError):
        return "start" if index == 0 else "geometry"


def _normalised(segments: list[dict]) -> list[dict]:
    """Segment records in the current form. Records written before checkpoint resumes counted
    a geometry restart's first row (a re-evaluation of the previous last geometry) as a step;
    here it is dropped (``skip_first``)."""
    out = []
    for k, seg in enumerate(segments):
        seg = dict(seg)
        if "skip_first" not in seg:
            seg["skip_first"] = k > 0 and seg["steps"] > 0
            if seg["skip_first"]:
                seg["steps"] -= 1
                seg["energies_ev"] = seg["energies_ev"][1:]
        out.append(seg)
    return out


def _archive_interrupted(work: Path) -> list[dict]:
    """Move an interrupted run's files to ``segment_NN/``; every archived segment's summary.

    Each summary: ``steps`` (optimiser steps it adds), ``energies_ev``, ``wall_s``,
    ``last_positions`` (Angstrom), ``skip_first`` (its first row re-evaluated the previous
    segment's last geometry). With a readable checkpoint (``relax.chk``) the rows up to the
    checkpointed step count and the checkpoint becomes ``resume.chk``; without one, the
    complete rows count and the next run starts from the last geometry. A first segment
    that completed nothing is dropped; a later one that added no step is kept for its
    wall time.
    """
    index = work / "segments.json"
    segments = _normalised(json.loads(index.read_text())) if index.exists() else []
    out = work / "relax.out"
    pos = work / "relax.pos_0.xyz"
    if out.exists() and pos.exists():
        restart = _run_restart(work, len(segments))
        props = read_properties(out) if out.stat().st_size else {"potential": np.zeros(0), "step": np.zeros(0)}
        energies, steps = props["potential"].tolist(), props["step"].tolist()
        frames = _read_ipi_xyz(pos, complete_only=True, cell=read(work / "init.extxyz").cell.array)
        n = min(len(energies), len(frames))
        chk_step = _checkpoint_step(work / "relax.chk")
        # a step-0 checkpoint holds no optimiser history, and i-PI restarted from it
        # re-evaluates the start like a fresh run: the geometry restart is the same thing
        if chk_step and chk_step in steps[:n]:
            n = steps.index(chk_step) + 1  # rows after the checkpointed step are redone from it
            with atomic_path(work / RESUME_CHK, suffix=".chk") as tmp:
                shutil.copyfile(work / "relax.chk", tmp)
        elif n > int(restart == "geometry"):
            (work / RESUME_CHK).unlink(missing_ok=True)  # this segment moved past that state
        skip = int(restart == "geometry")
        wall = _segment_wall_s(work, out)
        # a resumed segment killed before its first new step still cost its start-up
        # evaluation: kept (0 steps) so that its wall time is counted
        if n > skip or (segments and wall > 0):
            folder = work / f"segment_{len(segments):02d}"
            folder.mkdir(exist_ok=True)
            segments.append({"steps": max(0, n - skip), "energies_ev": [float(e) for e in energies[skip:n]],
                             "wall_s": wall, "skip_first": bool(skip), "restart": restart,
                             "last_positions": frames[n - 1].tolist() if n else segments[-1]["last_positions"],
                             "folder": folder.name})
            for f in [*work.glob("relax.*"), work / "input.xml", work / "ipi.log", work / "client.log",
                      work / ELAPSED, work / RUN]:
                if f.exists():
                    f.rename(folder / f.name)
            write_json(index, segments)
    elif index.exists():
        write_json(index, segments)
    for old in [*work.glob("relax.*"), work / ELAPSED, work / RUN]:
        if old.exists():
            old.unlink()  # a run that never completed a step leaves nothing worth keeping
    return segments


def _checkpoint_step(chk: Path) -> int | None:
    """The step counter of i-PI checkpoint ``chk`` (the ``step`` column of the state it
    holds); None if absent or unreadable."""
    root = _read_checkpoint(chk)
    return None if root is None else int(root.find("step").text)


def _segment_wall_s(work: Path, out: Path) -> float:
    """Wall time (s) of an interrupted segment: the last ``elapsed.json`` it wrote, else
    the span of its file times (input written -> last i-PI output)."""
    elapsed = work / ELAPSED
    if elapsed.exists():
        try:
            return float(json.loads(elapsed.read_text())["wall_s"])
        except (ValueError, KeyError):
            pass
    started = (work / "input.xml").stat().st_mtime if (work / "input.xml").exists() else out.stat().st_mtime
    return max(0.0, out.stat().st_mtime - started)


def _report_progress(work: Path, engine: str, reported: int = 0) -> int:
    """Log the optimiser step and energy reached (i-PI's ``relax.out``, eV) when a step
    was added since ``reported`` rows; returns the row count now."""
    try:
        rows = [line.split() for line in (work / "relax.out").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    except OSError:
        return reported
    if len(rows) > reported:
        log.info("%s: %s relaxation step %d, E = %.6f eV", work.name, engine, int(float(rows[-1][0])),
                 float(rows[-1][1]))
    return len(rows)


def _collect(work: Path, atoms: Atoms, wall: float, fmax_target: float,
             segments: list[dict] = (), skip_first: bool = False) -> RelaxResult:
    props = read_properties(work / "relax.out")
    current = props["potential"].tolist()
    if skip_first:  # a geometry restart's first row re-evaluates the previous segment's last geometry
        current = current[1:]
    energies = [e for s in segments for e in s["energies_ev"]] + current
    wall += sum(s["wall_s"] for s in segments)
    pos = _read_ipi_xyz(work / "relax.pos_0.xyz", cell=atoms.cell.array)
    frc = _read_ipi_xyz(work / "relax.frc_0.xyz", cell=atoms.cell.array)
    final = atoms.copy()
    final.positions = pos[-1]
    fmax = float(np.abs(frc[-1]).max())
    extras = read_raw_extras(work / "relax.extras_0") if (work / "relax.extras_0").exists() else []
    final.info.update({"energy_ev": energies[-1], "fmax_ev_per_a": fmax})
    out = work / "final.extxyz"
    write(out, final, format="extxyz")
    return RelaxResult(energy_ev=float(energies[-1]), energies_ev=[float(e) for e in energies],
                       fmax_ev_per_a=fmax, steps=len(energies), converged=fmax <= fmax_target * 1.0001,
                       wall_s=wall, extras=extras[-1] if extras else {}, final_structure=str(out))


def _read_ipi_xyz(path: Path, complete_only: bool = False, cell=None) -> list[np.ndarray]:
    """Frames of an i-PI xyz trajectory as (N, 3) arrays (the units written in the XML).

    i-PI keeps the cell in its own orientation (a along x, b in the xy plane) and
    writes vectors in that frame; ``cell`` (3x3, rows, the structure's own cell in
    the same units) maps every frame back to the structure's frame through the
    cell parameters on the frame's comment line. Only a triclinic or rotated cell
    differs; without ``cell`` the vectors stay in i-PI's frame.

    ``complete_only``: drop a last frame cut short by a killed writer instead of failing.
    """
    from ase.geometry import cellpar_to_cell

    lines = path.read_text().splitlines()
    frames, k = [], 0
    while k < len(lines):
        try:
            n = int(lines[k])
            block = lines[k + 2:k + 2 + n]
            frame = np.array([[float(x) for x in ln.split()[1:4]] for ln in block])
            if frame.shape != (n, 3):
                raise ValueError(f"frame {len(frames)} of {path} is incomplete")
            if cell is not None:
                params = [float(x) for x in lines[k + 1].split("CELL(abcABC):")[1].split()[:6]]
                frame = frame @ np.linalg.solve(cellpar_to_cell(params), np.asarray(cell, dtype=float))
        except (ValueError, IndexError):
            if complete_only:
                break
            raise
        frames.append(frame)
        k += n + 2
    return frames


def _wait_for_socket(path: str, server: subprocess.Popen, work: Path, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not os.path.exists(path):
        if server.poll() is not None:
            raise RuntimeError(f"i-PI exited before opening its socket:\n{_tail(work / 'ipi.log')}")
        if time.time() - t0 > timeout:
            raise TimeoutError(f"i-PI did not open {path} within {timeout} s")
        time.sleep(0.1)


def _ipi_executable() -> str:
    cand = Path(sys.prefix) / "bin" / "i-pi"
    return str(cand) if cand.exists() else "i-pi"


def _tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-n:])
    except OSError:
        return ""
