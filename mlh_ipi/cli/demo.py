"""``mlh-ipi demo``: the embedded default run (grows with the project; see README).

Current chain: melt-quench a small a-SiO2 host (Vashishta, LAMMPS) -> oxygen
vacancy -> DFT labels of both (PySCF, default settings, resumable) -> band gap
and the V_O defect level from the DFT Hamiltonian -> ``report/summary.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the embedded default end-to-end example", description=__doc__)
    p.add_argument("--workdir", type=Path, default=Path("runs/demo"), help="work folder (reused: resumes)")
    p.add_argument("--report", type=Path, default=Path("report"), help="report folder")
    p.add_argument("--atoms", type=int, default=24, help="a-SiO2 host size (multiple of 3)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ase.io import read, write

    from mlh_ipi.atomic_io import write_text
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.data.labelling import label_batch, label_path
    from mlh_ipi.dft.settings import DFTSettings
    from mlh_ipi.electronic.defect_levels import find_defect_levels
    from mlh_ipi.electronic.eigen import solve
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2
    from mlh_ipi.structures.analysis import format_sio2_report, sio2_report
    from mlh_ipi.structures.sio2 import make_oxygen_vacancy

    t0 = time.perf_counter()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    host_file = work / "host.extxyz"
    print(f"[1/3] a-SiO2 host, {args.atoms} atoms (melt-quench in LAMMPS)", flush=True)
    if not host_file.exists():
        write(host_file, melt_quench_sio2(args.atoms, seed=0))
    host = read(host_file)
    report = format_sio2_report(sio2_report(host))
    print(report)
    vo, info = make_oxygen_vacancy(host, seed=0)
    print(f"[2/3] V_O at O {info['defect_host_index']}, Si neighbours {info['defect_si']}", flush=True)
    settings = DFTSettings()
    print(f"[3/3] DFT labels (PySCF, {settings.basis}, {settings.ke_cutoff:g} Ha): host and V_O", flush=True)
    label_batch([host, vo], work / "labels", settings, source="demo")
    rows = []
    for k, name in enumerate(("host", "V_O")):
        lab = read_label(label_path(work / "labels", k))
        e, c = solve(lab.hamiltonian_ha, lab.overlap)
        defect = lab.info.get("defect_si")
        lv = find_defect_levels(e, c, lab.overlap, lab.atom_offsets, lab.nelectron, defect_atoms=defect)
        rows.append((name, lab.natoms, lab.energy_ev, float(np.abs(lab.forces_ev_per_a).max()), lv))
    lines = ["# mlh-ipi demo report", "", "## Structure", "", "```", report, "```", "",
             "## DFT labels", "", "| cell | atoms | E (eV) | max force (eV/Å) | gap (eV) | defect levels above VBM (eV) |",
             "|---|---|---|---|---|---|"]
    for name, n, energy, fmax, lv in rows:
        levels = ", ".join(f"{x:.3f}" for x in lv.above_vbm_ev) or "none"
        lines.append(f"| {name} | {n} | {energy:.4f} | {fmax:.3f} | {lv.gap_ev:.3f} | {levels} |")
        print(f"  {name:5s} E = {energy:.4f} eV   max|F| = {fmax:.3f} eV/A   gap = {lv.gap_ev:.3f} eV   "
              f"defect levels above VBM: {levels}")
    lines += ["", f"Wall time: {time.perf_counter() - t0:.0f} s", ""]
    write_text(args.report / "summary.md", "\n".join(lines))
    print(f"report written to {args.report / 'summary.md'}")
    return 0
