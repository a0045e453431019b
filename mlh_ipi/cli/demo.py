"""``mlh-ipi demo``: the whole chain on the embedded default (a-SiO2 oxygen vacancy); see README.

Builds a 24-atom a-SiO2 host and an O vacancy, relaxes both through i-PI with
the shipped MLH model serving energies and forces, prints the formation energy
with the relaxed band gap and defect level, runs LAMMPS + MACE MD at two
temperatures with the on-the-fly MLH hook, prints gap and level mean +- thermal
broadening, and writes ``report/summary.md`` with PNG plots. A second run
reuses finished stages. Library: ``mlh_ipi.workflows.demo``.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from mlh_ipi.workflows.demo import DemoOptions

    d = DemoOptions()
    p = sub.add_parser("demo", help="run the embedded default end-to-end example", description=__doc__)
    p.add_argument("--workdir", type=Path, default=d.workdir, help="work folder (reused: resumes)")
    p.add_argument("--report", type=Path, default=d.report, help="report folder")
    p.add_argument("--temperatures", type=float, nargs="+", default=list(d.temperatures), help="MD temperatures (K)")
    p.add_argument("--md-steps", type=int, default=d.md_steps, help="MD steps per temperature (1 fs)")
    p.add_argument("--stream-every", type=int, default=d.stream_every, help="MD steps between MLH snapshots")
    p.add_argument("--max-relax-steps", type=int, default=d.max_relax_steps, help="i-PI optimiser step cap")
    p.add_argument("--fmax", type=float, default=d.fmax_ev_per_a, help="relaxation force criterion (eV/Å)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.workflows.demo import DemoOptions, run_demo

    run_demo(DemoOptions(workdir=args.workdir, report=args.report, temperatures=tuple(args.temperatures),
                         md_steps=args.md_steps, stream_every=args.stream_every,
                         max_relax_steps=args.max_relax_steps, fmax_ev_per_a=args.fmax))
    return 0
