"""Consistent E + forces with PySCF's separate density passes vs the fused pass, same density, one run.

For each a-SiO2 host size (the cells of ``evaluator_speed.py``) the model's
H^Gamma is diagonalised once, and at that density the consistent-mode energy,
KS matrix, response and gradient are computed twice:

* **separate**: ``get_veff`` for E and F[D], then PySCF's nuclear gradient,
  which builds rho(G) and the potential again (``get_veff_ip1``) -- the
  evaluator before ``mlh_ipi.energy.multigrid_pass``;
* **fused**: ``KohnShamFunctional.evaluate`` (one density pass feeding both
  integrations).

For reference it also times the Hellmann-Feynman force mode at the same
density (one density pass without the Hermitian integration for F[D], no
response): what the consistent forces cost on top of the plain KS force
expression.

Both must agree (energy to 1e-8 Ha, gradient to 1e-8 Ha/Bohr). Each step is
timed as wall time and as this process's CPU time (``time.process_time``;
single-threaded runs on a shared machine: CPU time is what other jobs do not
inflate, and the ratios are taken from it). Times are also
given in units of one ``get_veff`` at the same density, which is the cost of one
SCF cycle: SCF+F over MLH E+F follows from them and the SCF cycle count.
Writes JSON (``--out``) and prints a markdown table.

Usage::

    python benchmarks/potential_pass_speed.py [--sizes 48 96 192] [--model examples/sio2_vo/model/best.pt]
"""
from __future__ import annotations

import argparse
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np

from mlh_ipi.threads import configure_threads

sys.path.insert(0, str(Path(__file__).resolve().parent))
log = logging.getLogger("potential_pass_speed")
MODEL = Path(__file__).resolve().parents[1] / "examples" / "sio2_vo" / "model" / "best.pt"


class Clock:
    """Wall and CPU seconds of a ``with`` block (``.wall``, ``.cpu``)."""

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return False


def measure(n_atoms: int, model_path) -> dict:
    from evaluator_speed import host

    from mlh_ipi.energy.functional import KohnShamFunctional
    from mlh_ipi.energy.occupations import occupations
    from mlh_ipi.energy.response import density_response
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.model.predictor import HamiltonianPredictor

    atoms = host(n_atoms)
    pred = HamiltonianPredictor.load(model_path)
    h = pred.predict_gamma(pred.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array))
    functional = KohnShamFunctional(atoms, pred.settings)
    functional.hcore, functional.overlap
    e, c = solve(h, functional.overlap)
    occ = occupations(e, functional.nelectron, pred.settings.smearing)
    dm = density_matrix(c, occ.occ)

    log.info("%d atoms: one get_veff", n_atoms)
    with Clock() as t_veff:
        functional.mf.get_veff(functional.cell, dm)

    log.info("%d atoms: separate passes", n_atoms)
    with Clock() as t_sep:
        e_sep, fock = functional.energy_and_fock(dm)
        resp = density_response(e, c, occ, fock)
        g_sep = functional.gradient_ha_bohr(e, c, occ.occ, w_ao=resp.w_eff)

    log.info("%d atoms: fused pass", n_atoms)
    with Clock() as t_fused:
        res = functional.evaluate(h, forces=True, force_mode="consistent")
    log.info("%d atoms: Hellmann-Feynman forces", n_atoms)
    with Clock() as t_hf:
        res_hf = functional.evaluate(h, forces=True, force_mode="hellmann_feynman")
    log.info("%d atoms: CPU s: get_veff %.1f, separate %.1f, fused %.1f, Hellmann-Feynman %.1f", n_atoms,
             t_veff.cpu, t_sep.cpu, t_fused.cpu, t_hf.cpu)
    from mlh_ipi.units import HARTREE, HARTREE_PER_BOHR

    d_e = abs(res.energy_ev / HARTREE - e_sep)
    d_g = float(np.abs(-res.forces_ev_per_a / HARTREE_PER_BOHR - g_sep).max())
    d_e_hf = abs(res_hf.energy_ev - res.energy_ev) / HARTREE
    if d_e > 1e-8 or d_g > 1e-8 or d_e_hf > 1e-8:
        raise RuntimeError(f"fused and separate passes disagree: dE {d_e:.1e} Ha, dG {d_g:.1e} Ha/Bohr, "
                           f"dE(HF mode) {d_e_hf:.1e} Ha")
    return {"atoms": n_atoms, "nao": int(functional.cell.nao_nr()), "mesh": [int(m) for m in functional.cell.mesh],
            "get_veff_s": t_veff.wall, "separate_s": t_sep.wall, "fused_s": t_fused.wall,
            "get_veff_cpu_s": t_veff.cpu, "separate_cpu_s": t_sep.cpu, "fused_cpu_s": t_fused.cpu,
            "hellmann_feynman_s": t_hf.wall, "hellmann_feynman_cpu_s": t_hf.cpu,
            "dE_ha": d_e, "dG_ha_bohr": d_g,
            "fused_timings": {k: v for k, v in res.timings.items() if k in ("diagonalise", "energy", "response",
                                                                               "gradient")}}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[48, 96])
    p.add_argument("--model", type=Path, default=MODEL)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/evaluator_speed/potential_pass.json"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    threads = configure_threads(args.threads)
    import json

    from mlh_ipi.atomic_io import write_json

    done = {r["atoms"]: r for r in json.loads(args.out.read_text())["rows"]} if args.out.exists() else {}
    rows = []
    for n in args.sizes:
        cached = done.get(n)
        rows.append(cached if cached and "hellmann_feynman_cpu_s" in cached else measure(n, args.model))
        write_json(args.out, {"threads": threads, "machine": platform.node(), "date": time.strftime("%Y-%m-%d"),
                              "model": str(args.model), "rows": rows + [r for k, r in done.items()
                                                                       if k not in args.sizes]})
    print(f"# consistent E + F at one density, {threads} thread(s), {platform.node()}\n")
    print("CPU seconds of this process (wall seconds in brackets)\n")
    print("| atoms | AOs | one get_veff (s) | separate passes (s) | fused (s) | fused / separate "
          "| separate in get_veff | fused in get_veff | Hellmann-Feynman (s) | HF in get_veff "
          "| fused / HF | dE (Ha) | dG (Ha/Bohr) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        v, sep, fus = r["get_veff_cpu_s"], r["separate_cpu_s"], r["fused_cpu_s"]
        hf = r.get("hellmann_feynman_cpu_s", float("nan"))
        r.setdefault("hellmann_feynman_s", float("nan"))
        print(f"| {r['atoms']} | {r['nao']} | {v:.1f} ({r['get_veff_s']:.0f}) | {sep:.1f} ({r['separate_s']:.0f}) | "
              f"{fus:.1f} ({r['fused_s']:.0f}) | **{fus / sep:.2f}** | {sep / v:.2f} | {fus / v:.2f} | "
              f"{hf:.1f} ({r['hellmann_feynman_s']:.0f}) | {hf / v:.2f} | {fus / hf:.2f} | "
              f"{r['dE_ha']:.0e} | {r['dG_ha_bohr']:.0e} |")


if __name__ == "__main__":
    main()
