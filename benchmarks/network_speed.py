"""CPU time of the network alone (graph + Γ matrix of the learnt part), for models with a baseline.

``mlh_accuracy.py --sizes`` times the whole ``predict_gamma``; for a Harris-baseline
model that includes H_0, one potential build, which hides what the network costs.
This script times only ``graph`` + ``predict_network_gamma`` (CPU seconds of this
process, best of ``--repeats``) on a host and its x-replicas, for each model given.

Usage::

    python benchmarks/network_speed.py MODEL.pt [MODEL.pt ...] \\
        --host examples/sio2_vo/data/hosts/asio2_192_s20.extxyz --reps 1 3
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mlh_ipi.threads import configure_threads


def network_cpu_s(model, atoms, repeats: int) -> float:
    """Best CPU seconds of graph construction plus the network's Γ matrix."""
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        graph = model.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array)
        model.predict_network_gamma(graph)
        best = min(best, time.process_time() - t)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", type=Path)
    p.add_argument("--host", type=Path, required=True, help="extxyz host cell")
    p.add_argument("--reps", type=int, nargs="+", default=[1], help="replicas along a")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    configure_threads(args.threads)
    from ase.io import read

    from mlh_ipi.model.predictor import HamiltonianPredictor

    host = read(args.host, index=0)
    models = {str(m): HamiltonianPredictor.load(m) for m in args.models}
    print("| atoms | model | cutoff_h (Å) | graph + network, CPU (s) |\n|---|---|---|---|")
    for n in args.reps:
        atoms = host.repeat((n, 1, 1))
        for name, model in models.items():
            print(f"| {len(atoms)} | `{name}` | {model.model.config.cutoff_h:g} | "
                  f"{network_cpu_s(model, atoms, args.repeats):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
