"""MD physics checks from LAMMPS output: energy drift, RDF, VACF and VDOS (pure numpy).

Readers
    :func:`read_thermo` -- thermo tables of a ``log.lammps`` (all runs, resumes
    appended; a step printed twice keeps its last line);
    :func:`read_dump` -- ``dump custom`` frames (``id type x y z [vx vy vz]``).

Checks (units: time ps, energy eV, length Angstrom, velocity Angstrom/ps,
frequency THz)
    :func:`energy_drift` -- linear drift of the total energy, meV/atom/ps, plus
    its RMS fluctuation;
    :func:`radial_distribution` -- g(r) with the minimum-image convention
    (r up to half the smallest cell width);
    :func:`velocity_autocorrelation` -- normalised C(t) = <v(0).v(t)> / <v.v>
    averaged over atoms and time origins;
    :func:`vibrational_dos` -- cosine transform of the Hann-windowed VACF,
    normalised to unit area over frequency (THz).

:func:`analyse_run` applies them to an MD folder written by
:func:`mlh_ipi.lammps.md.run_md` and writes ``analysis.json`` and PNG plots.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from mlh_ipi.atomic_io import save_figure, write_json

log = logging.getLogger(__name__)


def read_thermo(log_path: str | Path) -> dict[str, np.ndarray]:
    """Thermo columns of a LAMMPS log as arrays, sorted by ``Step``, duplicates dropped.

    Blocks with other columns than the first block's are skipped (they come
    from other run setups and would not line up).
    """
    rows: dict[int, list[float]] = {}
    header: list[str] | None = None
    current: list[str] | None = None
    for line in Path(log_path).read_text(errors="replace").splitlines():
        words = line.split()
        if words and words[0] == "Step":
            current = words if header is None or words == header else None
            header = header or words
            continue
        if current is None or not words:
            continue
        if words[0] == "Loop" or words[0].startswith("ERROR") or len(words) != len(current):
            if words[0] == "Loop" or words[0].startswith("ERROR"):
                current = None
            continue
        try:
            values = [float(w) for w in words]
        except ValueError:
            current = None
            continue
        rows[int(values[0])] = values
    if header is None or not rows:
        raise ValueError(f"no thermo output in {log_path}")
    table = np.array([rows[s] for s in sorted(rows)])
    return {name: table[:, k] for k, name in enumerate(header)}


def read_loop_times(log_path: str | Path) -> list[tuple[float, int]]:
    """``[(seconds, steps)]`` of every ``Loop time of ...`` line (LAMMPS's own timing of
    the MD steps of each run, setup excluded)."""
    pattern = re.compile(r"^Loop time of\s+(\S+)\s+on\s+\d+\s+procs\s+for\s+(\d+)\s+steps")
    out = []
    for line in Path(log_path).read_text(errors="replace").splitlines():
        m = pattern.match(line)
        if m:
            out.append((float(m.group(1)), int(m.group(2))))
    return out


@dataclass
class DumpFrame:
    """One dump frame: ``step``, ``cell`` (3, 3) rows, ``origin`` (3,), per-atom arrays by id."""

    step: int
    cell: np.ndarray
    origin: np.ndarray
    ids: np.ndarray
    types: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None


def _box(lines: list[str], tilted: bool) -> tuple[np.ndarray, np.ndarray]:
    vals = np.array([[float(x) for x in ln.split()] for ln in lines])
    if not tilted:
        lo, hi = vals[:, 0], vals[:, 1]
        return lo, np.diag(hi - lo)
    xy, xz, yz = vals[0, 2], vals[1, 2], vals[2, 2]
    xlo = vals[0, 0] - min(0.0, xy, xz, xy + xz)
    xhi = vals[0, 1] - max(0.0, xy, xz, xy + xz)
    ylo, yhi = vals[1, 0] - min(0.0, yz), vals[1, 1] - max(0.0, yz)
    zlo, zhi = vals[2, 0], vals[2, 1]
    cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]])
    return np.array([xlo, ylo, zlo]), cell


def iter_dump(path: str | Path) -> Iterator[DumpFrame]:
    """Frames of a ``dump custom`` file in file order (needs ``id type x y z``)."""
    with open(path) as fh:
        while True:
            line = fh.readline()
            if not line:
                return
            if not line.startswith("ITEM: TIMESTEP"):
                continue
            step = int(fh.readline())
            fh.readline()
            n = int(fh.readline())
            box_header = fh.readline()
            origin, cell = _box([fh.readline() for _ in range(3)], "xy" in box_header)
            cols = fh.readline().split()[2:]
            data = np.loadtxt([fh.readline() for _ in range(n)], ndmin=2)
            if len(data) != n:
                return  # truncated last frame of a killed run
            col = {c: k for k, c in enumerate(cols)}
            order = np.argsort(data[:, col["id"]])
            data = data[order]
            vel = (data[:, [col["vx"], col["vy"], col["vz"]]] if "vx" in col else None)
            yield DumpFrame(step, cell, origin, data[:, col["id"]].astype(int),
                            data[:, col["type"]].astype(int),
                            data[:, [col["x"], col["y"], col["z"]]], vel)


def read_dump(path: str | Path) -> list[DumpFrame]:
    """All frames, sorted by step; a step written twice (resume) keeps its last frame."""
    frames = {f.step: f for f in iter_dump(path)}
    return [frames[s] for s in sorted(frames)]


def frame_atoms(frame: DumpFrame, symbols: Sequence[str]):
    """An ``ase.Atoms`` of one dump frame (Å), atoms in id order, species ``symbols[id - 1]``
    (the order of the structure the run was started from), wrapped into the cell;
    ``info["step"]`` is the MD step."""
    from ase import Atoms

    order = np.argsort(frame.ids)
    ids = frame.ids[order]
    if ids.min() < 1 or ids.max() > len(symbols):
        raise ValueError(f"dump atom ids {ids.min()}..{ids.max()} do not fit {len(symbols)} species")
    at = Atoms(np.asarray(symbols)[ids - 1], positions=frame.positions[order], cell=frame.cell, pbc=True)
    at.wrap()
    at.info["step"] = int(frame.step)
    return at


def dump_atoms(path: str | Path, symbols: Sequence[str], steps: Sequence[int] | None = None,
               first_step: int = 0, count: int | None = None) -> list:
    """Frames of the dump at ``path`` as ``ase.Atoms`` (see :func:`frame_atoms`): those at the MD
    ``steps``, in that order, or ``count`` evenly spaced ones at step >= ``first_step`` (all of them
    without ``count``). A step the dump lacks, or fewer frames than ``count``, is a ``ValueError``."""
    frames = read_dump(path)
    if steps is not None:
        by_step = {f.step: f for f in frames}
        missing = [s for s in steps if s not in by_step]
        if missing:
            raise ValueError(f"{path}: no dump frame at steps {list(missing)[:5]}")
        frames = [by_step[s] for s in steps]
    else:
        frames = [f for f in frames if f.step >= first_step]
        if count is not None:
            if len(frames) < count:
                raise ValueError(f"{path}: {len(frames)} frames at step >= {first_step}, {count} wanted; "
                                 "run longer MD")
            frames = [frames[i] for i in np.linspace(0, len(frames) - 1, count).round().astype(int)]
    return [frame_atoms(f, symbols) for f in frames]


def energy_drift(time_ps: np.ndarray, total_energy_ev: np.ndarray, n_atoms: int) -> dict:
    """Linear drift and fluctuation of the total energy.

    Returns ``drift_mev_per_atom_per_ps`` (slope of a least-squares line),
    ``rms_fluctuation_mev_per_atom`` (about that line), ``max_deviation_mev_per_atom``
    (largest |E(t) - E(0)|) and ``duration_ps``.
    """
    t = np.asarray(time_ps, float)
    e = np.asarray(total_energy_ev, float) / n_atoms * 1e3
    if len(t) < 2:
        raise ValueError("need at least two thermo lines for a drift")
    slope, intercept = np.polyfit(t, e, 1)
    resid = e - (slope * t + intercept)
    return {"drift_mev_per_atom_per_ps": float(slope),
            "rms_fluctuation_mev_per_atom": float(np.sqrt(np.mean(resid ** 2))),
            "max_deviation_mev_per_atom": float(np.max(np.abs(e - e[0]))),
            "duration_ps": float(t[-1] - t[0])}


def _min_image_distances(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """All i<j minimum-image distances (valid up to half the smallest cell width)."""
    frac = positions @ np.linalg.inv(cell)
    i, j = np.triu_indices(len(positions), k=1)
    d = frac[j] - frac[i]
    d -= np.round(d)
    return np.linalg.norm(d @ cell, axis=1), i, j


def max_rdf_radius(cell: np.ndarray) -> float:
    """Half the smallest perpendicular width of the cell (Angstrom)."""
    volume = abs(np.linalg.det(cell))
    widths = [volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
              for k in range(3)]
    return 0.5 * min(widths)


def radial_distribution(frames: Sequence[DumpFrame], r_max: float | None = None,
                        n_bins: int = 200, types: tuple[int, int] | None = None
                        ) -> tuple[np.ndarray, np.ndarray]:
    """``(r, g)``: radial distribution function averaged over frames.

    ``types=(a, b)`` restricts to pairs of LAMMPS types a-b (partial g_ab(r),
    normalised by the density of b); default all pairs. ``r_max`` defaults to
    half the smallest cell width, the limit of the minimum-image convention.
    """
    if not frames:
        raise ValueError("no frames for the RDF")
    limit = min(max_rdf_radius(f.cell) for f in frames)
    r_max = limit if r_max is None else float(r_max)
    if r_max > limit + 1e-9:
        raise ValueError(f"r_max {r_max:.3f} A exceeds half the smallest cell width {limit:.3f} A")
    edges = np.linspace(0.0, r_max, n_bins + 1)
    hist = np.zeros(n_bins)
    norm = 0.0
    for f in frames:
        dist, i, j = _min_image_distances(f.positions, f.cell)
        volume = abs(np.linalg.det(f.cell))
        if types is None:
            n_a = n_b = len(f.positions)
            counts = 2.0 * np.histogram(dist, edges)[0]  # each pair counts for both atoms
        else:
            a, b = types
            ti, tj = f.types[i], f.types[j]
            n_a, n_b = np.sum(f.types == a), np.sum(f.types == b)
            sel_ab = (ti == a) & (tj == b)
            sel_ba = (ti == b) & (tj == a)
            counts = np.histogram(dist[sel_ab], edges)[0] + np.histogram(dist[sel_ba], edges)[0]
            if a == b:
                counts = 2.0 * np.histogram(dist[sel_ab], edges)[0]
        hist += counts
        norm += n_a * n_b / volume
    shell = 4.0 / 3.0 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    r = 0.5 * (edges[1:] + edges[:-1])
    return r, hist / (norm * shell)


def velocity_autocorrelation(velocities: np.ndarray, max_lag: int | None = None) -> np.ndarray:
    """Normalised VACF C(lag) for ``velocities`` (n_frames, n_atoms, 3); C(0) = 1.

    Averaged over atoms, components and all time origins (FFT, zero-padded).
    """
    v = np.asarray(velocities, float)
    n = v.shape[0]
    if n < 2:
        raise ValueError("need at least two frames with velocities")
    max_lag = n - 1 if max_lag is None else min(int(max_lag), n - 1)
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(v, n=size, axis=0)
    acf = np.fft.irfft(spec * spec.conj(), n=size, axis=0)[:n].sum(axis=(1, 2))
    acf /= np.arange(n, 0, -1)  # number of time origins per lag
    return acf[: max_lag + 1] / acf[0]


def vibrational_dos(vacf: np.ndarray, dt_ps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(frequency_THz, dos)`` from a VACF sampled every ``dt_ps``; unit area.

    The cosine transform of the VACF times a half Hann window (to zero at the
    last lag), zero-padded 4x: the real DFT of its even extension.
    """
    c = np.asarray(vacf, float)
    n = len(c)
    padded = np.zeros(4 * n)
    padded[:n] = c * np.hanning(2 * n)[n:]
    even = np.concatenate([padded, [0.0], padded[:0:-1]])  # x[k] = x[N - k]
    spec = np.fft.rfft(even).real * dt_ps
    freq = np.fft.rfftfreq(len(even), d=dt_ps)
    area = np.trapezoid(spec, freq) if hasattr(np, "trapezoid") else np.trapz(spec, freq)
    return freq, spec / area


def _savefig(fig, path: Path) -> None:
    save_figure(fig, path, bbox_inches="tight")


def analyse_run(folder: str | Path, rdf_bins: int = 200, vacf_max_ps: float = 1.0) -> dict:
    """Energy drift, RDF, VACF and VDOS of one MD folder; writes JSON and PNGs.

    Reads ``log.lammps`` and ``traj.lammpstrj`` (velocities needed for the VACF).
    Writes ``analysis.json``, ``energy.png``, ``rdf.png`` and ``vacf_vdos.png``
    into ``folder`` and returns the JSON content. The drift is of ``TotEng``; it
    tests integration only in NVE (thermostats exchange energy by design).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    thermo = read_thermo(folder / "log.lammps")
    frames = read_dump(folder / "traj.lammpstrj")
    if not frames:
        raise ValueError(f"no frames in {folder / 'traj.lammpstrj'}")
    n_atoms = len(frames[0].ids)
    summary: dict = {"n_atoms": n_atoms, "n_thermo": len(thermo["Step"]),
                     "n_frames": len(frames), "mean_temperature_K": float(thermo["Temp"].mean())}
    if "Time" in thermo and len(thermo["Step"]) > 1:
        summary["energy"] = energy_drift(thermo["Time"], thermo["TotEng"], n_atoms)
    fig, ax = plt.subplots(3, 1, figsize=(6, 7), sharex=True)
    x = thermo.get("Time", thermo["Step"])
    ax[0].plot(x, (thermo["TotEng"] - thermo["TotEng"][0]) / n_atoms * 1e3, label="total")
    ax[0].plot(x, (thermo["PotEng"] - thermo["PotEng"][0]) / n_atoms * 1e3, label="potential",
               alpha=0.6)
    ax[0].set_ylabel("E - E(0) (meV/atom)")
    ax[0].legend()
    ax[1].plot(x, (thermo["TotEng"] - thermo["TotEng"][0]) / n_atoms * 1e3)
    ax[1].set_ylabel("total E - E(0)\n(meV/atom)")
    ax[2].plot(x, thermo["Temp"])
    ax[2].set_ylabel("T (K)")
    ax[2].set_xlabel("time (ps)" if "Time" in thermo else "step")
    _savefig(fig, folder / "energy.png")

    r, g = radial_distribution(frames, n_bins=rdf_bins)
    peak = int(np.argmax(g))
    summary["rdf"] = {"first_peak_A": float(r[peak]), "first_peak_height": float(g[peak]),
                      "r_max_A": float(r[-1] + 0.5 * (r[1] - r[0]))}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(r, g, label="all")
    for a in sorted(set(frames[0].types.tolist())):
        for b in sorted(set(frames[0].types.tolist())):
            if a <= b:
                ax.plot(*radial_distribution(frames, n_bins=rdf_bins, types=(a, b)), lw=0.8,
                        label=f"types {a}-{b}")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.legend()
    _savefig(fig, folder / "rdf.png")

    if frames[0].velocities is not None and len(frames) > 2:
        steps = np.array([f.step for f in frames])
        gaps = np.diff(steps)
        # time per dump interval: from thermo (Time/Step) for the run's time step
        dt_step = (float(thermo["Time"][-1] - thermo["Time"][0])
                   / float(thermo["Step"][-1] - thermo["Step"][0])) if "Time" in thermo else None
        if dt_step is not None and np.all(gaps == gaps[0]):
            dt_ps = dt_step * gaps[0]
            max_lag = int(min(len(frames) - 1, max(1, round(vacf_max_ps / dt_ps))))
            vacf = velocity_autocorrelation(np.stack([f.velocities for f in frames]), max_lag)
            freq, dos = vibrational_dos(vacf, dt_ps)
            summary["vdos"] = {"dt_ps": float(dt_ps), "peak_THz": float(freq[np.argmax(dos)]),
                               "vacf_lags": int(len(vacf))}
            fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
            ax[0].plot(np.arange(len(vacf)) * dt_ps, vacf)
            ax[0].set_xlabel("t (ps)")
            ax[0].set_ylabel("VACF (normalised)")
            ax[1].plot(freq, dos)
            cumulative = np.cumsum(dos) / np.sum(dos)
            ax[1].set_xlim(0, 1.3 * freq[np.searchsorted(cumulative, 0.995)])
            ax[1].set_xlabel("frequency (THz)")
            ax[1].set_ylabel("VDOS (1/THz)")
            _savefig(fig, folder / "vacf_vdos.png")
        else:
            log.warning("%s: uneven dump spacing, no VACF/VDOS", folder)
    write_json(folder / "analysis.json", summary)
    return summary


__all__ = ["DumpFrame", "analyse_run", "energy_drift", "iter_dump", "max_rdf_radius",
           "radial_distribution", "read_dump", "read_loop_times", "read_thermo", "velocity_autocorrelation",
           "vibrational_dos"]
