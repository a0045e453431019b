"""MLH energy error at DFT-relaxed geometries (the cells the formation study ends in).

For every stored DFT reference of the formation study (``refs/dft_*.extxyz``: the DFT
minimum and its energy in ``info["energy_ev"]``), each model's energy at that very
geometry, E_KS[D(H_MLH)] (``KohnShamFunctional.evaluate(..., forces=False)``), minus
the DFT energy, per atom (meV/atom). Unlike the study's "relaxed total-energy error"
(each engine at its own minimum), this separates the model's error from the
difference between the two minima. BENCHMARKS.md §4f has the first numbers.

    OMP_NUM_THREADS=1 python benchmarks/relaxed_energy_error.py \\
        --models examples/sio2_vo/model/best.pt examples/sio2_vo/model/harris/best.pt

For every vacancy reference whose host reference is stored too (``dft_<host>_siteNNNN``
next to ``dft_<host>_host``) it also prints the formation-energy error at the DFT
geometries, ΔE_f = [E_MLH − E_DFT](V_O) − [E_MLH − E_DFT](host) (eV; the O2 energy is
the same DFT number on both sides and cancels). This is the part of the formation
study's ΔE_f that comes from the energy surface, without the difference between the
two engines' minima (near a minimum that difference is second order).

``--report`` reprints the tables from ``results.json`` without evaluating anything.

Writes ``--out`` (default ``benchmarks/results/relaxed_energy_error``): ``results.json``,
``results.md`` (the table, also printed) and ``errors.png`` (error per reference and model).
Cost: one MLH energy per reference and model (~1 min for 48 atoms on one core; the
Harris model adds one potential build).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from ase.io import read

from mlh_ipi.atomic_io import save_figure, write_json, write_text
from mlh_ipi.threads import configure_threads

ROOT = Path(__file__).resolve().parents[1]


def mlh_energy_ev(calc, atoms) -> float:
    """E_KS[D(H)] (eV) served by ``calc`` (an ``MLHCalculator``) at ``atoms``; no forces."""
    atoms = atoms.copy()
    atoms.calc = calc
    return float(atoms.get_potential_energy())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[])
    p.add_argument("--report", action="store_true", help="only reprint the tables of results.json")
    p.add_argument("--refs", type=Path, default=ROOT / "benchmarks" / "results" / "sio2_vo_formation" / "refs")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "relaxed_energy_error")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    if args.report:
        rows = json.loads((args.out / "results.json").read_text())["rows"]
        print(_tables(rows))
        return 0
    if not args.models:
        raise SystemExit("--models is required unless --report")
    from mlh_ipi.calculator import MLHCalculator

    refs = sorted(args.refs.glob("dft_*.extxyz"))
    if not refs:
        raise SystemExit(f"no dft_*.extxyz references in {args.refs}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in args.models:
        calc = MLHCalculator(model, committee_energy_spread=False)
        for ref in refs:
            at = read(ref)
            t0 = time.perf_counter()
            e = mlh_energy_ev(calc, at)
            rows.append({"model": model, "reference": ref.stem, "atoms": len(at), "converged": bool(at.info["converged"]),
                         "e_dft_ev": float(at.info["energy_ev"]), "e_mlh_ev": e,
                         "error_mev_per_atom": 1000 * (e - at.info["energy_ev"]) / len(at),
                         "seconds": time.perf_counter() - t0})
            print(f"{Path(model).parent.name}/{Path(model).name} {ref.stem}: "
                  f"{rows[-1]['error_mev_per_atom']:+.2f} meV/atom", flush=True)
    text = f"# MLH energy error at DFT-relaxed geometries ({time.strftime('%Y-%m-%d')}, {platform.node()})\n\n"
    text += _tables(rows)
    print(text)
    write_text(args.out / "results.md", text)
    write_json(args.out / "results.json", {"rows": rows})
    _plot(rows, args.out / "errors.png")
    return 0


def formation_errors(rows) -> list[dict]:
    """ΔE_f (eV) at the DFT geometries for each model and vacancy reference with a stored host reference."""
    by_key = {(r["model"], r["reference"]): r for r in rows}
    out = []
    for r in rows:
        if "_site" not in r["reference"]:
            continue
        host = by_key.get((r["model"], r["reference"].rsplit("_site", 1)[0] + "_host"))
        if host is None:
            continue
        d_vac = r["e_mlh_ev"] - r["e_dft_ev"]
        d_host = host["e_mlh_ev"] - host["e_dft_ev"]
        out.append({"model": r["model"], "reference": r["reference"], "d_vacancy_ev": d_vac, "d_host_ev": d_host,
                    "d_formation_ev": d_vac - d_host})
    return out


def _tables(rows) -> str:
    lines = ["| model | reference | atoms | E_DFT (eV) | E_MLH − E_DFT (meV/atom) |", "|---|---|---|---|---|"]
    lines += [f"| `{r['model']}` | {r['reference']} | {r['atoms']} | {r['e_dft_ev']:.4f} | "
              f"{r['error_mev_per_atom']:+.2f} |" for r in rows]
    ef = formation_errors(rows)
    if ef:
        lines += ["", "Formation-energy error at the DFT geometries (eV):", "",
                  "| model | vacancy | [E_MLH − E_DFT] V_O (eV) | [E_MLH − E_DFT] host (eV) | ΔE_f (eV) |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{e['model']}` | {e['reference']} | {e['d_vacancy_ev']:+.3f} | {e['d_host_ev']:+.3f} | "
                  f"**{e['d_formation_ev']:+.3f}** |" for e in ef]
    return "\n".join(lines) + "\n"


def _plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    refs = list(dict.fromkeys(r["reference"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(refs) + 2), 3.8))
    width = 0.8 / len(models)
    for k, m in enumerate(models):
        vals = [next(r["error_mev_per_atom"] for r in rows if r["model"] == m and r["reference"] == ref)
                for ref in refs]
        ax.bar(np.arange(len(refs)) + k * width, vals, width, label=str(Path(m).resolve().relative_to(ROOT))
               if Path(m).resolve().is_relative_to(ROOT) else m)
    ax.axhline(1.2, color="k", ls="--", lw=0.8, label="target 1.2 meV/atom")
    ax.set_xticks(np.arange(len(refs)) + 0.4 - width / 2, [r.replace("dft_", "") for r in refs], fontsize=7)
    ax.set_ylabel("E_MLH − E_DFT at the DFT minimum (meV/atom)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
