"""Case study: MLH vs DFT relaxations of O vacancies in a-SiO2, all through i-PI (long; not run in CI).

Cases: V_O at ``n`` bridging-O sites (drawn with ``--site-seed``) in each held-out
host, by default 5 sites in the 48-atom host ``asio2_48_s4`` and 2 in the 96-atom
host ``asio2_96_s12`` (both written by ``examples/sio2_vo/make_dataset.py``; the
seed-12 host of the ``test96p`` set has every Si fourfold and every O twofold,
unlike the seed-10 and seed-11 hosts).
Every host and vacancy is relaxed at fixed cell with i-PI's optimiser to a max
force component of ``--fmax`` (20 meV/Å), once with the MLH model and once
with the DFT reference (the model's own DFT settings):

* MLH: host and vacancies from the *unrelaxed* structures (each vacancy cut from
  the input host), :func:`mlh_ipi.workflows.formation.formation_energies`.
* DFT host: from the MLH-relaxed host (``--dft-host-start mlh``, default since
  2026-11-23) or from the input host (``input``). The 48-atom host from the input
  structure took the MLH 101 lbfgs steps; at ~3 min per DFT step that is ~5 h of
  DFT for a number the issue does not ask for, so the like-for-like comparison is
  left to the ``--same-start`` vacancy cases. The DFT stage starts the host as soon
  as the MLH host is finished (it does not wait for the MLH vacancies).
* DFT vacancies: the first ``--same-start`` cases (default 2) start from the very
  same unrelaxed vacancy cell as MLH, so their wall-time ratio and ΔQ compare
  two complete relaxations; the other cases start from the MLH-relaxed geometry
  to save DFT time. The ``dft_start`` column says which (``unrelaxed`` or
  ``mlh_relaxed``); their wall-time ratio is not a like-for-like comparison.

Per case (once both engines are done): relaxed total-energy error of the vacancy
cell and of the host (meV/atom, MLH - DFT at each engine's own minimum), ΔQ
between the two relaxed vacancy geometries (amu^½ Å, mass-weighted rigid shift
removed, minimum image; :mod:`mlh_ipi.structures.compare`), coordinate MAE in
spheres of 3, 5, 7, 9, 12 Å around the vacancy, E_f(MLH), E_f(DFT) and their
difference (the same DFT E(O2) in both), the MLH band gap and defect levels
(host-like band edges, localised levels picked on the two Si of the vacancy),
the DFT HOMO-LUMO gap of the vacancy cell (the DFT client reports no defect-level
picking, so its "gap" includes the occupied Si-Si level), and the MLH / DFT
relaxation wall-time and step ratios (wall time of the whole i-PI run, start-up of
i-PI and of the client included; same machine, one after the other).

Outputs in ``--out`` (default ``benchmarks/results/sio2_vo_formation``, small,
meant to be committed): ``refs/dft_*.extxyz`` (every finished DFT relaxation:
final geometry plus energy, steps, wall time, start, gap and levels in its info;
a stored reference is never recomputed), ``o2_reference.json``,
``dft_settings.json``, ``results.csv``, ``results.md`` (the table, also printed),
``summary.png``. The i-PI run folders (trajectories, resumable) go to ``--work``
(default ``<out>/work``). They are tracked in git on purpose: the study takes
days of 2-core time, the sessions that run it are hours long, and a fresh checkout
keeps only tracked files, so an unfinished relaxation is committed as it stands
and the next checkout resumes it from i-PI's checkpoint of its last step (``mlh_ipi.ipi.relax``;
a segment's wall time travels in its ``elapsed.json``). A few MB in all.

Cost estimate (not measured on these cells): an SCF + forces of an 18-atom
quartz cell at 500 Ha took ~200 s on one core (BENCHMARKS.md, cutoff study), so
a 47-atom force evaluation is several minutes and a DFT relaxation from an
unrelaxed vacancy (tens to a hundred evaluations) many hours; the full default
study is days on 2 cores, which is why only ``--same-start`` cases start DFT from
scratch. Run it in the background; it resumes where it stopped::

    # two cores: MLH on one (then DFT there too), DFT on the other
    (python benchmarks/sio2_vo_formation.py --stage mlh --threads 1; \\
     python benchmarks/sio2_vo_formation.py --stage dft --threads 1) > mlh.log 2>&1 &
    python benchmarks/sio2_vo_formation.py --stage dft --threads 1 > dft.log 2>&1 &
    python benchmarks/sio2_vo_formation.py --stage report   # table from what is finished

A second model joins the same study with ``--tag``, optionally from the first model's minima
(``--mlh-start mlh``: its host and vacancies start from ``work/mlh``'s relaxed geometries, so its
relaxations take a few steps and its wall times are not comparable with DFT's; the ``mlh_start``
column says so): ``--model examples/sio2_vo/model/harris/best.pt
--tag harris`` relaxes with the Harris-baseline model (BENCHMARKS.md §4e) in ``work/mlh_harris``
and writes ``results_harris.*``, compared against the same DFT references (``refs/``, never
redone). DFT runs that start from an MLH-relaxed geometry (the host, the cases beyond
``--same-start``) take it from whichever model's ``--stage dft`` process reaches them first;
the reference's ``info`` records its start.

Several ``--stage dft`` processes share the DFT relaxations: each claims a case
before relaxing it (``work/dft/NAME.claim``) and skips cases other live processes
hold, so none is done twice.

Smoke test on a tiny case (numbers meaningless; ``--dft-settings`` overrides the
model's settings for the DFT side and is flagged in the output)::

    python benchmarks/sio2_vo_formation.py --model tiny.pt --hosts quartz.extxyz:2 --max-steps 2 \\
        --o2-energy-ev -870 --dft-settings cheap.json --out /tmp/smoke --work /tmp/smoke/work
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path, save_figure, write_json, write_text
from mlh_ipi.claims import release, try_claim
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.structures.compare import SPHERE_RADII_A, delta_q, sphere_mae
from mlh_ipi.structures.sio2 import bridging_oxygens, make_oxygen_vacancy
from mlh_ipi.threads import configure_threads
from mlh_ipi.workflows.formation import (finished_formation, formation_energies, o2_energy,
                                         reference_settings, relax_checked)

log = logging.getLogger("sio2_vo_formation")
ROOT = Path(__file__).resolve().parents[1]
HOSTS = ROOT / "examples" / "sio2_vo" / "data" / "hosts"
DEFAULT_HOSTS = (f"{HOSTS / 'asio2_48_s4.extxyz'}:5", f"{HOSTS / 'asio2_96_s12.extxyz'}:2")


@dataclass
class Case:
    host_name: str
    site: int
    same_start: bool

    @property
    def name(self) -> str:
        return f"{self.host_name}_site{self.site:04d}"


def pick_sites(host: Atoms, n: int, seed: int) -> list[int]:
    """``n`` distinct bridging-O sites, drawn reproducibly, in increasing order."""
    candidates = bridging_oxygens(host)
    if len(candidates) < n:
        raise ValueError(f"only {len(candidates)} bridging O atoms, {n} sites asked for")
    return sorted(int(s) for s in np.random.default_rng(seed).choice(candidates, n, replace=False))


def suffix(tag: str) -> str:
    return f"_{tag}" if tag else ""


def mlh_folder(tag: str) -> str:
    """MLH runs of the model tagged ``tag`` (``--tag``) go to ``work/mlh[_TAG]/``; DFT runs are shared."""
    return "mlh" + suffix(tag)


def load_hosts(specs: list[str]) -> dict[str, tuple[Atoms, int]]:
    hosts = {}
    for spec in specs:
        path, _, n = spec.rpartition(":")
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: build it with examples/sio2_vo/make_dataset.py "
                                    "(the held-out hosts of --sets test48 test96)")
        hosts[path.stem] = (read(path, index=-1), int(n))
    return hosts


# ---------------------------------------------------------------- DFT references (small, never redone)
def ref_path(out: Path, name: str) -> Path:
    return out / "refs" / f"dft_{name}.extxyz"


def store_reference(path: Path, res, start: str, settings: DFTSettings) -> Atoms:
    """The relaxed DFT geometry with everything the table needs in its info; written atomically."""
    at = res.atoms()
    ex = res.extras or {}
    at.info.update({"energy_ev": res.energy_ev, "fmax_ev_per_a": res.fmax_ev_per_a, "steps": res.steps,
                    "converged": bool(res.converged), "wall_s": res.wall_s, "start": start,
                    "band_gap_ev": ex.get("band_gap", np.nan), "vbm_ev": ex.get("vbm", np.nan),
                    "cbm_ev": ex.get("cbm", np.nan),
                    "defect_levels_ev": json.dumps(ex.get("defect_levels", [])),
                    "defect_levels_above_vbm_ev": json.dumps(ex.get("defect_levels_above_vbm", [])),
                    "dft_settings": json.dumps(settings.physics_key())})
    at.calc = None
    with atomic_path(path, suffix=".extxyz") as tmp:
        write(tmp, at, format="extxyz")
    return read(path)


def load_reference(path: Path, settings: DFTSettings) -> Atoms | None:
    if not path.exists():
        return None
    at = read(path)
    if json.loads(at.info["dft_settings"]) != settings.physics_key():
        raise ValueError(f"{path} was computed with other DFT settings; move it away to recompute")
    return at


def dft_relax(start: Atoms, name: str, start_kind: str, out: Path, work: Path, settings: DFTSettings,
              settings_file: Path, args, defect_atoms=None) -> Atoms | None:
    """The stored DFT reference of case ``name``, relaxing it first if needed.

    None when another live process holds the relaxation (``work/dft/NAME.claim``,
    :mod:`mlh_ipi.claims`): several ``--stage dft`` processes share the cases."""
    path = ref_path(out, name)
    done = load_reference(path, settings)
    if done is not None:
        log.info("DFT %s: stored reference, not recomputed", name)
        return done
    claim = work / "dft" / f"{name}.claim"
    claim.parent.mkdir(parents=True, exist_ok=True)
    if not try_claim(claim):
        log.info("DFT %s: being relaxed by another process (%s), skipped", name, claim.name)
        return None
    try:
        done = load_reference(path, settings)  # finished by another process meanwhile
        if done is not None:
            return done
        log.info("DFT %s (%d atoms, start %s): relaxing through i-PI", name, len(start), start_kind)
        res = relax_checked(start, work / "dft" / name, engine="dft", settings_json=str(settings_file),
                            optimizer=args.optimizer, fmax_ev_per_a=args.fmax, max_steps=args.max_steps,
                            defect_atoms=defect_atoms)
        log.info("DFT %s: E = %.4f eV, %d steps, %.0f s", name, res.energy_ev, res.steps, res.wall_s)
        return store_reference(path, res, start_kind, settings)
    finally:
        release(claim)


# ---------------------------------------------------------------- the study
def run(args) -> list[dict]:
    out = Path(args.out)
    work = Path(args.work) if args.work else out / "work"
    out.mkdir(parents=True, exist_ok=True)
    settings = reference_settings("mlh", args.model)
    dft_settings = settings
    if args.dft_settings:
        dft_settings = DFTSettings.from_dict(json.loads(Path(args.dft_settings).read_text()))
        log.warning("DFT side uses --dft-settings, not the model's: energy errors include the difference")
    settings_file = out / "dft_settings.json"
    write_json(settings_file, dft_settings.to_dict())
    if args.stage in ("all", "dft") or args.o2_energy_ev is not None or (out / "o2_reference.json").exists():
        e_o2, o2_source = o2_energy(out, dft_settings, args.o2_energy_ev)  # a DFT scan unless cached/given
    else:
        e_o2, o2_source = float("nan"), "pending"  # E_f columns stay NaN until the DFT stage
    hosts = load_hosts(args.hosts)

    cases, n_same = [], 0
    for host_name, (host, n) in hosts.items():
        for site in pick_sites(host, n, args.site_seed):
            cases.append(Case(host_name, site, same_start=n_same < args.same_start))
            n_same += cases[-1].same_start

    rows = []
    for host_name, (host, _) in hosts.items():
        sites = [c.site for c in cases if c.host_name == host_name]
        mlh_dir = work / mlh_folder(args.tag) / host_name
        # "report" never starts a relaxation and "dft" uses only finished MLH runs (so that
        # "--stage mlh" and "--stage dft" can run side by side): both read what is finished
        if args.stage in ("all", "mlh"):
            table = formation_energies(host, sites, mlh_dir, engine="mlh", model=args.model,
                                       o2_energy_ev=e_o2 if np.isfinite(e_o2) else 0.0,
                                       fmax_ev_per_a=args.fmax, max_steps=args.max_steps,
                                       optimizer=args.optimizer, vacancy_from="input", plot=False,
                                       start_from=None if not args.mlh_start
                                       else work / args.mlh_start / host_name)
            mlh, mlh_host = {r.site: r for r in table.rows}, table.host
        else:
            mlh_host, done = finished_formation(host, sites, mlh_dir, e_o2 if np.isfinite(e_o2) else 0.0)
            mlh = {r.site: r for r in done}
        dft_host = None
        if args.stage in ("all", "dft") and (args.dft_host_start == "input" or mlh_host is not None):
            start = host if args.dft_host_start == "input" else mlh_host.atoms()
            dft_host = dft_relax(start, f"{host_name}_host",
                                 "unrelaxed" if args.dft_host_start == "input" else "mlh_relaxed",
                                 out, work, dft_settings, settings_file, args)
        else:
            dft_host = load_reference(ref_path(out, f"{host_name}_host"), dft_settings)
        for case in (c for c in cases if c.host_name == host_name):
            vo, info = make_oxygen_vacancy(host, site=case.site)
            ref = None
            if args.stage in ("all", "dft") and (case.same_start or case.site in mlh):
                start = vo if case.same_start else read(mlh[case.site].final_structure)
                ref = dft_relax(start, case.name, "unrelaxed" if case.same_start else "mlh_relaxed",
                                out, work, dft_settings, settings_file, args, defect_atoms=info["defect_si"])
            else:
                if args.stage == "dft":
                    log.info("%s: DFT waits for the MLH-relaxed start (run --stage mlh)", case.name)
                ref = load_reference(ref_path(out, case.name), dft_settings)
            if case.site in mlh:
                rows.append(compare_case(case, mlh[case.site], mlh_host, ref, dft_host, e_o2))
                rows[-1]["mlh_start"] = args.mlh_start or "unrelaxed"
    report(rows, out, args, e_o2, o2_source, dft_settings)
    return rows


def compare_case(case: Case, m, m_host, ref: Atoms | None, ref_host: Atoms | None, e_o2: float) -> dict:
    """One table row; DFT columns are NaN until the DFT relaxations are finished."""
    mlh_vo = read(m.final_structure)
    e_mlh_vo, e_mlh_host = m.energy_vacancy_ev, m_host.energy_ev
    row = {"case": case.name, "host": case.host_name, "site": case.site, "atoms": len(mlh_vo),
           "dft_start": "unrelaxed" if case.same_start else "mlh_relaxed",
           "ef_mlh_ev": e_mlh_vo - e_mlh_host + 0.5 * e_o2,
           "mlh_steps": m.steps, "mlh_wall_s": m.wall_s, "mlh_converged": m.converged,
           "mlh_gap_ev": m.band_gap_ev,
           "mlh_levels_above_vbm_ev": ";".join(f"{x:.3f}" for x in m.defect_levels_above_vbm_ev)}
    nan = float("nan")
    row.update({"ef_dft_ev": nan, "ef_err_ev": nan, "e_err_vo_mev_per_atom": nan,
                "e_err_host_mev_per_atom": nan, "delta_q_amu_a": nan, "dft_steps": nan, "dft_wall_s": nan,
                "dft_converged": "", "dft_homo_lumo_ev": nan,
                "wall_ratio_mlh_over_dft": nan, "step_ratio_mlh_over_dft": nan})
    for r in SPHERE_RADII_A:
        row[f"mae_{r:g}A"] = nan
        row[f"n_{r:g}A"] = 0
    if ref is None or ref_host is None:
        return row
    n, nh = len(ref), len(ref_host)
    ef_dft = ref.info["energy_ev"] - ref_host.info["energy_ev"] + 0.5 * e_o2
    row.update({
        "ef_dft_ev": ef_dft, "ef_err_ev": row["ef_mlh_ev"] - ef_dft,
        "e_err_vo_mev_per_atom": 1000 * (e_mlh_vo - ref.info["energy_ev"]) / n,
        "e_err_host_mev_per_atom": 1000 * (e_mlh_host - ref_host.info["energy_ev"]) / nh,
        "delta_q_amu_a": delta_q(ref, mlh_vo),
        "dft_steps": ref.info["steps"], "dft_wall_s": ref.info["wall_s"],
        "dft_converged": bool(ref.info["converged"]) and bool(ref_host.info["converged"]),
        "dft_homo_lumo_ev": ref.info["band_gap_ev"],
        "wall_ratio_mlh_over_dft": m.wall_s / ref.info["wall_s"],
        "step_ratio_mlh_over_dft": m.steps / ref.info["steps"],
    })
    for r, (mae, count) in sphere_mae(ref, mlh_vo, radii=SPHERE_RADII_A).items():
        row[f"mae_{r:g}A"], row[f"n_{r:g}A"] = mae, count
    return row


# ---------------------------------------------------------------- outputs
def markdown(rows: list[dict]) -> str:
    head = ["case", "MLH start", "DFT start", "E_f MLH (eV)", "E_f DFT (eV)", "ΔE_f (eV)", "ΔE V_O (meV/at)",
            "ΔE host (meV/at)", "ΔQ (amu^½ Å)"] + [f"MAE {r:g} Å (Å)" for r in SPHERE_RADII_A] + \
           ["MLH gap (eV)", "MLH levels − VBM (eV)", "DFT HOMO-LUMO (eV)", "t MLH/DFT",
            "steps MLH/DFT"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    f = lambda x, p=3: "-" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{p}f}"  # noqa: E731
    for r in rows:
        cells = [r["case"], r.get("mlh_start", "unrelaxed"), r["dft_start"], f(r["ef_mlh_ev"]), f(r["ef_dft_ev"]), f(r["ef_err_ev"]),
                 f(r["e_err_vo_mev_per_atom"], 2), f(r["e_err_host_mev_per_atom"], 2), f(r["delta_q_amu_a"])]
        cells += [f(r[f"mae_{x:g}A"], 4) for x in SPHERE_RADII_A]
        cells += [f(r["mlh_gap_ev"], 2), r["mlh_levels_above_vbm_ev"] or "-", f(r["dft_homo_lumo_ev"], 2),
                  f(r["wall_ratio_mlh_over_dft"], 4),
                  f"{r['mlh_steps']}/{r['dft_steps'] if r['dft_steps'] == r['dft_steps'] else '-'}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def report(rows, out: Path, args, e_o2, o2_source, settings: DFTSettings) -> None:
    if not rows:
        log.warning("no finished cases yet")
        return
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    write_text(out / f"results{suffix(args.tag)}.csv", buf.getvalue())
    done = [r for r in rows if not np.isnan(r["ef_dft_ev"])]
    same = [r for r in done if r["dft_start"] == "unrelaxed" and r.get("mlh_start", "unrelaxed") == "unrelaxed"]
    summary = [f"# V_O in a-SiO2: MLH vs DFT relaxations through i-PI ({time.strftime('%Y-%m-%d')})", "",
               f"model `{args.model}`; DFT {settings.basis}, {settings.ke_cutoff:g} Ha; "
               f"E(O2) = {e_o2:.4f} eV ({o2_source}); fmax {args.fmax} eV/Å, {args.optimizer}; "
               f"machine: {platform.node()} ({platform.processor() or platform.machine()})", "",
               markdown(rows), ""]
    if done:
        summary.append(f"{len(done)} cases finished: mean |ΔE_f| = "
                       f"{np.mean([abs(r['ef_err_ev']) for r in done]):.3f} eV, mean ΔQ = "
                       f"{np.mean([r['delta_q_amu_a'] for r in done]):.3f} amu^½ Å.")
    if same:
        summary.append(f"Same-start cases ({len(same)}): MLH/DFT wall-time ratio "
                       f"{np.mean([r['wall_ratio_mlh_over_dft'] for r in same]):.4f} (mean).")
    text = "\n".join(summary) + "\n"
    write_text(out / f"results{suffix(args.tag)}.md", text)
    print(text)
    plot(rows, out / f"summary{suffix(args.tag)}.png")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in rows if not np.isnan(r["ef_dft_ev"])]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    for kind, marker in (("unrelaxed", "o"), ("mlh_relaxed", "s")):
        sel = [r for r in done if r["dft_start"] == kind]
        ax.scatter([r["ef_dft_ev"] for r in sel], [r["ef_mlh_ev"] for r in sel], marker=marker,
                   label=f"DFT start: {kind}")
    if done:
        lim = [min(min(r["ef_dft_ev"], r["ef_mlh_ev"]) for r in done) - 0.2,
               max(max(r["ef_dft_ev"], r["ef_mlh_ev"]) for r in done) + 0.2]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.legend(fontsize=8)
    ax.set_xlabel("E_f DFT (eV)")
    ax.set_ylabel("E_f MLH (eV)")
    ax.set_title("V_O formation energy (O-rich)")
    ax = axes[1]
    for r in done:
        ax.plot(SPHERE_RADII_A, [r[f"mae_{x:g}A"] for x in SPHERE_RADII_A], "o-", label=r["case"])
    ax.set_xlabel("sphere radius around the vacancy (Å)")
    ax.set_ylabel("coordinate MAE, MLH vs DFT (Å)")
    ax.set_title("relaxed geometry")
    if done:
        ax.legend(fontsize=7)
    ax = axes[2]
    x = np.arange(len(done))
    ax.bar(x, [r["delta_q_amu_a"] for r in done], color=["C0" if r["dft_start"] == "unrelaxed" else "C1"
                                                         for r in done])
    ax.set_xticks(x, [r["case"].replace("_site", "\n") for r in done], fontsize=7)
    ax.set_ylabel("ΔQ MLH vs DFT (amu$^{1/2}$ Å)")
    ax.set_title("ΔQ (blue: same start; orange: DFT from MLH)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "examples" / "sio2_vo" / "model" / "best.pt"))
    p.add_argument("--tag", default="", help="a second MLH model in the same study: its relaxations go to "
                   "work/mlh_TAG and its tables to results_TAG.*; the DFT references are shared")
    p.add_argument("--mlh-start", default="", metavar="FOLDER",
                   help="start the MLH host and vacancies from the relaxed geometries of another MLH run, "
                        "e.g. 'mlh' (the default model's runs in work/mlh) for a --tag model")
    p.add_argument("--hosts", nargs="+", default=list(DEFAULT_HOSTS), metavar="PATH:NSITES")
    p.add_argument("--stage", choices=("all", "mlh", "dft", "report"), default="all",
                   help="mlh: MLH relaxations only; dft: DFT relaxations only (cases that start "
                        "from the MLH geometry wait for a finished MLH run, so 'mlh' and 'dft' can run "
                        "as two processes side by side); all: both in turn; report: no relaxations")
    p.add_argument("--same-start", type=int, default=2,
                   help="cases (in host order) whose DFT relaxation starts from the unrelaxed vacancy")
    p.add_argument("--dft-host-start", choices=("input", "mlh"), default="mlh")
    p.add_argument("--site-seed", type=int, default=0)
    p.add_argument("--fmax", type=float, default=0.02, help="eV/Å, max force component")
    p.add_argument("--max-steps", type=int, default=500)
    p.add_argument("--optimizer", choices=("lbfgs", "bfgs"), default="lbfgs")
    p.add_argument("--o2-energy-ev", type=float, default=None, help="skip the O2 scan")
    p.add_argument("--dft-settings", default=None, help="override the model's settings (smoke tests only)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sio2_vo_formation"))
    p.add_argument("--work", default=None, help="i-PI run folders (default OUT/work)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s",
                        datefmt="%H:%M:%S")
    configure_threads(args.threads)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
