"""Neutral oxygen-vacancy formation energies in SiO2, every relaxation through i-PI.

    E_f(V_O) = E(V_O, relaxed) - E(host, relaxed) + ½ E(O2)        (eV)

i.e. the O-rich limit, μ_O = ½ E(O2) of the spin-triplet molecule computed by
the DFT backend with the **same DFT settings** as the energies (the model's own
settings for ``engine="mlh"``; :func:`mlh_ipi.dft.o2.o2_reference`). The host
and each vacancy are relaxed at fixed cell by i-PI's optimiser with our client
(:func:`mlh_ipi.ipi.relax.relax_with_ipi`), with ``engine="mlh"`` (the MLH
model) or ``engine="dft"`` (the PySCF reference).

Layout of the output folder ``out`` (everything resumable)::

    workflow.json        the options of this run (a rerun with other options is refused)
    dft_settings.json    the DFT settings of the O2 reference (and of engine="dft")
    o2_reference.json    cached O2 scan (skipped when ``o2_energy_ev`` is given)
    host/                relax_with_ipi folder of the host (result.json, final.extxyz, ...)
    vo_site0012/         one folder per vacancy site (index of the removed O in the host)
    formation.csv        one row per site: E_f, energies, steps, band gap, VBM, CBM, defect levels
    formation.json       the same rows plus the O2 energy and its source
    formation.png        E_f per site; defect levels inside the gap per site

The gap and level columns come from the client's extras of the last optimiser
step: with ``engine="mlh"`` host-like band edges and the localised defect levels
picked on the vacancy's two Si (``defect_si``); with ``engine="dft"`` the DFT
client reports only the HOMO/LUMO of the cell (``vbm``/``cbm``/``band_gap``, so
for V_O the "gap" includes the occupied Si-Si level) and no defect levels.

A finished relaxation (its ``result.json``) is never redone. Site indices refer
to the host; an index that is not an O raises ``ValueError`` before anything runs.
By default each vacancy is cut from the **relaxed** host (``vacancy_from="relaxed"``);
``"input"`` cuts it from the input host instead, so that two engines can start
from the very same unrelaxed vacancy cell. ``start_from`` (the folder of a
finished run of the same host and sites, e.g. with another model) starts the host
and every vacancy from that run's relaxed geometries instead: a second model near
the first one's minima then needs a few optimiser steps, not a hundred.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.io import read

from mlh_ipi.atomic_io import save_figure, write_json, write_text
from mlh_ipi.dft.settings import DFTSettings, check_compatible
from mlh_ipi.ipi.relax import RelaxResult, load_result, relax_with_ipi
from mlh_ipi.structures.sio2 import make_oxygen_vacancy

log = logging.getLogger(__name__)

ENGINES = ("mlh", "dft")
VACANCY_FROM = ("relaxed", "input")
CSV_COLUMNS = ("site", "n_atoms", "formation_energy_ev", "energy_vacancy_ev", "energy_host_ev",
               "energy_o2_ev", "converged", "steps", "fmax_ev_per_a", "wall_s", "band_gap_ev",
               "vbm_ev", "cbm_ev", "defect_levels_ev", "defect_levels_above_vbm_ev",
               "si_si_distance_a", "engine")


@dataclass
class VacancyFormation:
    """One V_O site: energies in eV, wall time in s, levels absolute (eV) and above the VBM (eV)."""

    site: int                          # index of the removed O in the host
    n_atoms: int                       # atoms in the vacancy cell
    formation_energy_ev: float
    energy_vacancy_ev: float
    energy_host_ev: float
    energy_o2_ev: float
    converged: bool                    # vacancy and host both reached the force criterion
    steps: int                         # optimiser steps of the vacancy relaxation
    fmax_ev_per_a: float               # final max |force component| of the vacancy
    wall_s: float                      # wall time of the vacancy relaxation
    band_gap_ev: float | None
    vbm_ev: float | None
    cbm_ev: float | None
    defect_levels_ev: list[float] = field(default_factory=list)
    defect_levels_above_vbm_ev: list[float] = field(default_factory=list)
    si_si_distance_a: float | None = None  # the two Si across the relaxed vacancy (Angstrom)
    engine: str = "mlh"
    final_structure: str = ""

    def csv_row(self) -> dict:
        row = asdict(self)
        for k in ("defect_levels_ev", "defect_levels_above_vbm_ev"):
            row[k] = ";".join(f"{x:.4f}" for x in row[k])
        return {k: row[k] for k in CSV_COLUMNS}


@dataclass
class FormationTable:
    rows: list[VacancyFormation]
    host: RelaxResult
    energy_o2_ev: float
    o2_source: str                     # "given", "computed" or "cached"
    out: Path

    @property
    def csv_path(self) -> Path:
        return self.out / "formation.csv"

    @property
    def png_path(self) -> Path:
        return self.out / "formation.png"

    def markdown(self) -> str:
        lines = ["| site | E_f (eV) | converged | steps | gap (eV) | levels above VBM (eV) | d(Si-Si) (Å) |",
                 "|---:|---:|:---:|---:|---:|---|---:|"]
        for r in self.rows:
            gap = f"{r.band_gap_ev:.3f}" if r.band_gap_ev is not None else "-"
            lev = ", ".join(f"{x:.2f}" for x in r.defect_levels_above_vbm_ev) or "-"
            dsi = f"{r.si_si_distance_a:.3f}" if r.si_si_distance_a is not None else "-"
            lines.append(f"| {r.site} | {r.formation_energy_ev:.3f} | {'yes' if r.converged else 'NO'} "
                         f"| {r.steps} | {gap} | {lev} | {dsi} |")
        return "\n".join(lines)


def reference_settings(engine: str, model: str | None = None,
                       settings_json: str | Path | None = None) -> DFTSettings:
    """The DFT settings behind the energies: the model's (engine mlh), else the JSON, else defaults.

    With both a model and a settings JSON the two must agree on the physics
    fields (``check_compatible``), otherwise E(O2) would not match the energies.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    given = DFTSettings.from_dict(json.loads(Path(settings_json).read_text())) if settings_json else None
    if model is not None:
        from mlh_ipi.calculator import load_hamiltonian_model

        trained = load_hamiltonian_model(model).settings
        if given is not None:
            check_compatible(trained, given)
        return trained
    if engine == "mlh":
        raise ValueError("engine 'mlh' needs a model")
    return given if given is not None else DFTSettings()


def o2_energy(out: str | Path, settings: DFTSettings, given_ev: float | None = None) -> tuple[float, str]:
    """E(O2) in eV and where it came from: ``given_ev``, the cache in ``out``, or a new DFT scan."""
    if given_ev is not None:
        if not np.isfinite(given_ev):
            raise ValueError(f"O2 energy must be finite, got {given_ev}")
        return float(given_ev), "given"
    cache = Path(out) / "o2_reference.json"
    if cache.exists():
        cached = json.loads(cache.read_text())
        if DFTSettings.from_dict(cached["settings"]).physics_key() == settings.physics_key():
            return float(cached["energy_ev"]), "cached"
        log.warning("%s was computed with other DFT settings: recomputing", cache)
    from mlh_ipi.dft.o2 import o2_reference

    log.info("O2 reference: triplet bond-length scan with the DFT backend (%s, %.0f Ha)",
             settings.basis, settings.ke_cutoff)
    ref = o2_reference(settings)
    write_json(cache, {"settings": settings.to_dict(), **ref.to_dict()})
    return ref.energy_ev, "computed"


def check_sites(host: Atoms, sites: Sequence[int]) -> list[int]:
    """The sites as ints; ``ValueError`` for an empty list, duplicates or an index that is not an O."""
    sites = [int(s) for s in sites]
    if not sites:
        raise ValueError("no vacancy sites given")
    if len(set(sites)) != len(sites):
        raise ValueError(f"duplicate vacancy sites in {sites}")
    for s in sites:
        make_oxygen_vacancy(host, site=s)  # raises for out-of-range or non-O indices
    return sites


def formation_energies(host: Atoms, sites: Sequence[int], out: str | Path, engine: str = "mlh",
                       model: str | None = None, settings_json: str | Path | None = None,
                       o2_energy_ev: float | None = None, fmax_ev_per_a: float = 0.02,
                       max_steps: int = 500, optimizer: str = "lbfgs",
                       vacancy_from: str = "relaxed", timeout_s: float | None = None,
                       plot: bool = True, force_mode: str = "consistent",
                       start_from: str | Path | None = None) -> FormationTable:
    """Relax the host and one V_O per site through i-PI; return and write the E_f table (see module doc)."""
    if vacancy_from not in VACANCY_FROM:
        raise ValueError(f"vacancy_from must be one of {VACANCY_FROM}, got {vacancy_from!r}")
    sites = check_sites(host, sites)
    out = Path(out)
    start_host = host if start_from is None else start_geometry(start_from, host)  # checked before any run
    out.mkdir(parents=True, exist_ok=True)
    settings = reference_settings(engine, model, settings_json)
    _check_same_run(out, {"engine": engine, "model_sha256": model_fingerprint(model) if model else None,
                          "settings": settings.physics_key(), "fmax_ev_per_a": fmax_ev_per_a,
                          "optimizer": optimizer, "vacancy_from": vacancy_from,
                          **({"force_mode": force_mode} if engine == "mlh" else {}),
                          **({"start_from": "/".join(Path(start_from).resolve().parts[-2:])}
                             if start_from is not None else {})})
    settings_file = out / "dft_settings.json"
    write_json(settings_file, settings.to_dict())
    e_o2, o2_source = o2_energy(out, settings, o2_energy_ev)
    relax_kw = dict(engine=engine, model=model if engine == "mlh" else None,
                    settings_json=str(settings_file) if engine == "dft" else None,
                    optimizer=optimizer, fmax_ev_per_a=fmax_ev_per_a, max_steps=max_steps,
                    timeout_s=timeout_s, force_mode=force_mode)

    log.info("host (%d atoms): relaxing with %s", len(host), engine)
    host_res = relax_checked(start_host, out / "host", **relax_kw)
    start_host = host_res.atoms() if vacancy_from == "relaxed" else host
    rows = []
    for k, site in enumerate(sites, 1):
        vo, info = make_oxygen_vacancy(start_host, site=site)
        if start_from is not None:  # read when its turn comes: that run may still be finishing it
            vo = _with_info(start_geometry(start_from, host, site), vo)
        log.info("V_O site %d (%d/%d): relaxing with %s", site, k, len(sites), engine)
        res = relax_checked(vo, out / f"vo_site{site:04d}", defect_atoms=info["defect_si"], **relax_kw)
        rows.append(_row(site, vo, res, host_res, e_o2, engine))
    table = FormationTable(rows, host_res, e_o2, o2_source, out)
    write_table(table, plot=plot)
    return table


def finished_formation(host: Atoms, sites: Sequence[int], out: str | Path, o2_energy_ev: float,
                       engine: str = "mlh") -> tuple[RelaxResult | None, list[VacancyFormation]]:
    """What a :func:`formation_energies` run in ``out`` has finished so far, relaxing nothing.

    Returns the host's result (None while the host is unfinished) and one row per
    finished vacancy (E_f with ``o2_energy_ev``, eV); sites still relaxing are left out.
    """
    out = Path(out)
    if not (out / "host" / "result.json").exists():
        return None, []
    host_res = load_result(out / "host")
    rows = []
    for site in check_sites(host, sites):
        folder = out / f"vo_site{site:04d}"
        if (folder / "result.json").exists():
            vo, _ = make_oxygen_vacancy(host, site=site)
            rows.append(_row(site, vo, load_result(folder), host_res, o2_energy_ev, engine))
    return host_res, rows


def start_geometry(folder: str | Path, host: Atoms, site: int | None = None) -> Atoms:
    """The relaxed host (``site`` None) or V_O at ``site`` of a finished formation run in ``folder``.

    ``ValueError`` when that relaxation is missing or unfinished, or holds other atoms."""
    from mlh_ipi.ipi.relax import load_result

    sub = Path(folder) / ("host" if site is None else f"vo_site{site:04d}")
    if not (sub / "result.json").exists():
        raise ValueError(f"start_from: {sub} holds no finished relaxation")
    atoms = load_result(sub).atoms()
    natoms = len(host) - (site is not None)
    if site is None and atoms.get_chemical_symbols() != host.get_chemical_symbols():
        raise ValueError(f"start_from: {sub} holds another host (other atoms or order)")
    if len(atoms) != natoms or not np.allclose(atoms.cell.array, host.cell.array, atol=1e-6):
        raise ValueError(f"start_from: {sub} holds {len(atoms)} atoms in another cell; "
                         f"expected {natoms} in the host's cell")
    for key in ("energy_ev", "fmax_ev_per_a"):  # the other run's numbers, not this one's
        atoms.info.pop(key, None)
    atoms.info["started_from"] = str(sub)
    return atoms


def _with_info(atoms: Atoms, like: Atoms) -> Atoms:
    """``atoms`` (positions of another run) carrying ``like``'s info (defect Si indices, site)."""
    if atoms.get_chemical_symbols() != like.get_chemical_symbols():
        raise ValueError("start_from: the vacancy there has another atom order than this one")
    atoms = atoms.copy()
    atoms.calc = None
    atoms.info.update(like.info)
    return atoms


def relax_checked(start: Atoms, workdir: Path, **kw) -> RelaxResult:
    """``relax_with_ipi`` that refuses to resume a folder holding a relaxation of another structure."""
    init = workdir / "init.extxyz"
    if (workdir / "result.json").exists() and init.exists():
        old = read(init)
        if (old.get_chemical_symbols() != start.get_chemical_symbols()
                or not np.allclose(old.positions, start.positions, atol=1e-5)
                or not np.allclose(old.cell.array, start.cell.array, atol=1e-5)):
            raise ValueError(f"{workdir} holds a finished relaxation of a different structure; "
                             "use another output folder")
        log.info("%s: finished earlier, reusing", workdir)
    return relax_with_ipi(start, workdir, **kw)


def model_fingerprint(model: str | Path) -> str:
    """SHA-256 of a checkpoint file, or of every file (name and bytes) in a committee folder.

    A run folder records the model by content, not by path, so it resumes from another
    checkout or machine, and refuses a different model behind the same path."""
    path = Path(model)
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for f in files:
        digest.update(str(f.relative_to(path)).encode() if path.is_dir() else b"")
        digest.update(f.read_bytes())
    return digest.hexdigest()


def _check_same_run(out: Path, options: dict) -> None:
    """Refuse to resume ``out`` with other options than its ``workflow.json``; options the
    record does not hold yet (written by an older version) are added to it."""
    path = out / "workflow.json"
    if path.exists():
        old = json.loads(path.read_text())
        diff = {k: (old[k], v) for k, v in options.items() if k in old and old[k] != v}
        if diff:
            raise ValueError(f"{out} holds a run with other options {diff}; use another output folder")
        if any(k not in old for k in options):
            write_json(path, {**old, **options})
    else:
        write_json(path, options)


def _row(site: int, vo: Atoms, res: RelaxResult, host: RelaxResult, e_o2: float,
         engine: str) -> VacancyFormation:
    ex = res.extras or {}
    final = res.atoms()
    si = vo.info.get("defect_si", [])
    dsi = float(final.get_distance(si[0], si[1], mic=True)) if len(si) >= 2 else None
    return VacancyFormation(
        site=site, n_atoms=len(vo),
        formation_energy_ev=res.energy_ev - host.energy_ev + 0.5 * e_o2,
        energy_vacancy_ev=res.energy_ev, energy_host_ev=host.energy_ev, energy_o2_ev=e_o2,
        converged=bool(res.converged and host.converged), steps=res.steps,
        fmax_ev_per_a=res.fmax_ev_per_a, wall_s=res.wall_s,
        band_gap_ev=ex.get("band_gap"), vbm_ev=ex.get("vbm"), cbm_ev=ex.get("cbm"),
        defect_levels_ev=[float(x) for x in ex.get("defect_levels", [])],
        defect_levels_above_vbm_ev=[float(x) for x in ex.get("defect_levels_above_vbm", [])],
        si_si_distance_a=dsi, engine=engine, final_structure=res.final_structure)


def write_table(table: FormationTable, plot: bool = True) -> None:
    """``formation.csv``, ``formation.json`` and (``plot``) ``formation.png`` in ``table.out``."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in table.rows:
        w.writerow(r.csv_row())
    write_text(table.csv_path, buf.getvalue())
    write_json(table.out / "formation.json", {
        "energy_o2_ev": table.energy_o2_ev, "o2_source": table.o2_source,
        "host": {"energy_ev": table.host.energy_ev, "converged": table.host.converged,
                 "steps": table.host.steps, "wall_s": table.host.wall_s, "extras": table.host.extras},
        "vacancies": [asdict(r) for r in table.rows]})
    if plot:
        plot_formation(table.rows, table.png_path)


def plot_formation(rows: Sequence[VacancyFormation], path: str | Path, title: str | None = None) -> None:
    """Bar chart of E_f per site, and the defect levels inside the gap (relative to the VBM)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.arange(len(rows))
    labels = [str(r.site) for r in rows]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(5.0, 0.7 * len(rows) + 2), 6), sharex=True)
    ax1.bar(x, [r.formation_energy_ev for r in rows], color=["C0" if r.converged else "C3" for r in rows])
    ax1.set_ylabel("E_f(V_O) (eV), O-rich")
    ax1.set_title(title or f"V_O formation energies ({rows[0].engine if rows else ''})\nred bars: not converged",
                  fontsize=10)
    for k, r in enumerate(rows):
        if r.band_gap_ev is not None:
            ax2.bar(k, r.band_gap_ev, color="0.85", width=0.6)
        for lev in r.defect_levels_above_vbm_ev:
            ax2.hlines(lev, k - 0.3, k + 0.3, color="C1", lw=2)
    ax2.axhline(0.0, color="k", lw=0.8)
    ax2.set_ylabel("E - VBM (eV): gap (grey), defect levels")
    ax2.set_xticks(x, labels)
    ax2.set_xlabel("removed O (host index)")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


__all__ = ["FormationTable", "VacancyFormation", "check_sites", "formation_energies", "o2_energy",
           "plot_formation", "reference_settings", "relax_checked", "write_table"]
