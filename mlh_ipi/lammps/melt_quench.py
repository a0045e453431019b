"""Amorphous SiO2 hosts by melt-quench in LAMMPS (Vashishta 1990 potential, units metal).

The protocol lives in one LAMMPS input file shipped with the package,
``mlh_ipi/resources/lammps/melt_quench_sio2.in`` (``lammps_inputs/`` holds a symlink
to it for standalone ``lmp -in`` use). :func:`melt_quench_sio2` runs that file
through the LAMMPS Python API with ``-var`` values; its header documents the
stages, temperatures (K) and step counts, and any of its ``index`` variables can be
overridden here by keyword (``steps_cool2=10000``, ``t_melt=4500.0``, ...).

On top of the script's own acceptance test (fraction of four-fold Si, with anneal
and re-quench retries inside the script), the builder rejects cells that ordered
into a crystal-like structure (symmetry-equivalent Si environments, see
:func:`mlh_ipi.structures.analysis.equivalent_environment_fraction`) and reruns the
script from a new random start (``stream`` 1, 2, ...; a crystal would superheat
through a short remelt). The result is reproducible for a given seed (one MPI rank;
the pair style is not threaded).
"""
from __future__ import annotations

import logging
import math
import re
import time
from pathlib import Path

import numpy as np
from ase import Atoms

from mlh_ipi.lammps.runtime import open_lammps, potential_file, shipped_scripts
from mlh_ipi.structures.analysis import SI_O_BOND_CUTOFF, equivalent_environment_fraction

log = logging.getLogger(__name__)

POTENTIAL = "SiO.1990.vashishta"
SCRIPT_NAME = "melt_quench_sio2.in"
DEFAULT_DENSITY = 2.20  # g/cm^3, a-SiO2 at ambient conditions
# variables set by the builder itself, not by protocol keywords
_RESERVED = {"natoms", "density", "seed", "stream", "potfile", "out_data"}
_SPECIES = {1: "Si", 2: "O"}


def script_path() -> Path:
    """Path of the packaged LAMMPS input ``melt_quench_sio2.in``."""
    return shipped_scripts()[SCRIPT_NAME]


def script_defaults() -> dict[str, str]:
    """``{name: default}`` of every ``variable NAME index VALUE`` line in the script."""
    pattern = re.compile(r"^\s*variable\s+(\w+)\s+index\s+(\S+)")
    out = {}
    for line in script_path().read_text().splitlines():
        m = pattern.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def _validate(n_atoms: int, density: float, seed: int, protocol: dict) -> dict[str, str]:
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)):
        raise ValueError(f"n_atoms must be an integer, got {n_atoms!r}")
    if n_atoms < 3 or n_atoms % 3:
        raise ValueError(f"n_atoms={n_atoms} must be a positive multiple of 3 (SiO2 units)")
    if not (math.isfinite(density) and density > 0):
        raise ValueError(f"density must be a positive number of g/cm^3, got {density!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    allowed = set(script_defaults()) - _RESERVED
    unknown = set(protocol) - allowed
    if unknown:
        raise ValueError(f"unknown melt-quench setting(s) {sorted(unknown)}; "
                         f"known: {sorted(allowed)}")
    for key, value in protocol.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} must be finite, got {value!r}")
    return {k: str(v) for k, v in protocol.items()}


def _atoms_from_lammps(lmp) -> Atoms:
    """Current LAMMPS state as ``ase.Atoms`` (ordered by atom ID, wrapped, Angstrom)."""
    boxlo, boxhi, xy, yz, xz, _periodic, _changed = lmp.extract_box()
    n = int(lmp.get_natoms())
    x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3).copy()
    types = np.ctypeslib.as_array(lmp.gather_atoms("type", 0, 1)).copy()
    lo, hi = np.array(boxlo), np.array(boxhi)
    cell = np.array([[hi[0] - lo[0], 0.0, 0.0], [xy, hi[1] - lo[1], 0.0], [xz, yz, hi[2] - lo[2]]])
    atoms = Atoms([_SPECIES[int(t)] for t in types], positions=x - lo, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def melt_quench_sio2(n_atoms: int, density: float = DEFAULT_DENSITY, seed: int = 0, *,
                     reject_ordered: bool = True, max_restarts: int = 4,
                     log_file: str | Path | None = None, **protocol) -> Atoms:
    """Build an a-SiO2 cell of ``n_atoms`` atoms by melt-quench with the Vashishta potential.

    ``n_atoms`` must be a multiple of 3; the cell is cubic with the edge set by
    ``density`` (g/cm^3). ``seed`` (integer >= 0) fixes every random number, so the
    same arguments give the same structure. ``protocol`` keywords override the
    script's variables (temperatures in K, time steps in ps, step counts; see
    :func:`script_defaults`), e.g. ``min_fourfold=1.0`` for a defect-free network
    at any size, or short ``steps_*`` for a quick smoke test. With
    ``reject_ordered`` a crystal-like result is discarded and the script rerun from
    a new random start, at most ``max_restarts`` times. ``log_file`` keeps the
    LAMMPS log of the last run.

    Returns wrapped ``ase.Atoms`` (Si first, then O; positions in Angstrom) with
    ``info``: ``builder``, ``seed``, ``density_g_cm3`` (requested), ``potential``,
    ``stream`` (restarts used), ``n_requench`` (retries inside the last run),
    ``n_not_fourfold`` (Si without four O within 2.0 Angstrom), ``ordered`` (bool),
    ``energy_eV`` and ``pressure_GPa`` (final LAMMPS potential energy and pressure).
    """
    settings = _validate(n_atoms, density, seed, protocol)
    settings.setdefault("rcut_sio", str(SI_O_BOND_CUTOFF))
    defaults = script_defaults()
    max_requench = int(settings.get("max_requench", defaults["max_requench"]))
    if not 0 <= max_requench < 100:
        raise ValueError(f"max_requench must be in 0..99, got {max_requench}")
    start = time.perf_counter()
    for stream in range(max_restarts + 1):
        atoms, result = _run_once(n_atoms, density, seed, stream, settings, log_file)
        result["ordered"] = equivalent_environment_fraction(atoms, "Si") > 0.0
        if not (reject_ordered and result["ordered"]):
            break
        log.info("melt-quench seed %d stream %d ordered into a crystal-like cell; "
                 "restarting from a new random start", seed, stream)

    atoms.info.update({"builder": "melt_quench_sio2", "seed": int(seed),
                       "density_g_cm3": float(density), "potential": POTENTIAL,
                       "stream": stream, **result})
    n_si = n_atoms // 3
    min_fourfold = float(settings.get("min_fourfold", defaults["min_fourfold"]))
    n_bad = result["n_not_fourfold"]
    if (n_si - n_bad) / n_si < min_fourfold or (reject_ordered and result["ordered"]):
        log.warning("melt-quench seed %d: target not reached (%d of %d Si not four-fold, "
                    "ordered=%s)", seed, n_bad, n_si, result["ordered"])
    log.info("melt-quench %d atoms seed %d: stream %d, %d retries, %.1f s", n_atoms, seed,
             stream, result["n_requench"], time.perf_counter() - start)
    return atoms


def _run_once(n_atoms: int, density: float, seed: int, stream: int, settings: dict,
              log_file) -> tuple[Atoms, dict]:
    """One run of the script: the final structure and its LAMMPS-side results."""
    script = script_path()
    cmdargs = ["-var", "natoms", str(int(n_atoms)), "-var", "density", repr(float(density)),
               "-var", "seed", str(int(seed)), "-var", "stream", str(stream),
               "-var", "potfile", str(potential_file(POTENTIAL))]
    for key, value in settings.items():
        cmdargs += ["-var", key, value]
    lmp = open_lammps(cmdargs, log=log_file)
    try:
        _run_script(lmp, script)
        atoms = _atoms_from_lammps(lmp)
        result = {
            "n_requench": int(lmp.extract_variable("n_requench")),
            "n_not_fourfold": int(lmp.extract_variable("n_not_fourfold")),
            "energy_eV": float(lmp.get_thermo("pe")),
            "pressure_GPa": float(lmp.get_thermo("press")) * 1.0e-4,  # bar -> GPa
        }
    finally:
        lmp.close()
    return atoms, result


def _run_script(lmp, script: Path) -> None:
    try:
        lmp.file(str(script))
    except Exception as err:  # the lammps module raises a bare Exception
        raise RuntimeError(f"LAMMPS failed in {script.name}: {err}") from err


__all__ = ["DEFAULT_DENSITY", "POTENTIAL", "melt_quench_sio2", "script_defaults", "script_path"]
