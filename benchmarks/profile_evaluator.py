"""cProfile of one MLH-style evaluation (E_KS[D] + forces) from a label's DFT Hamiltonian.

Prints the evaluator's own timings, the exactness against the label (should be
~1e-7 Ha and ~1e-3 eV/A or better: labels store H in float64, D in float32) and
the 30 most expensive calls (cumulative), which is where BENCHMARKS.md §3's
"where the time goes" table comes from.

Usage::

    python benchmarks/profile_evaluator.py examples/sio2_vo/data/labels/train/000000.label.npz [--threads 1] [--noise 3e-4]
    # a structure without a label: H predicted by a model, default DFT settings (no exactness line)
    python benchmarks/profile_evaluator.py examples/sio2_vo/data/hosts/asio2_192_s20.extxyz --model examples/sio2_vo/model/best.pt
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from mlh_ipi.threads import configure_threads


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("label", help="label file (.label.npz), or a structure file with --model")
    p.add_argument("--model", default=None, help="MLH checkpoint predicting H of a structure file")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--top", type=int, default=30)
    p.add_argument("--noise", type=float, default=0.0,
                   help="add symmetric Gaussian noise of this size (Hartree) to H, as a model's error would")
    args = p.parse_args(argv)
    configure_threads(args.threads)
    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.energy.functional import KohnShamFunctional

    if args.model:
        from ase.io import read

        from mlh_ipi.model.predictor import HamiltonianPredictor

        lab = None
        atoms = read(args.label)
        pred = HamiltonianPredictor.load(args.model)
        h = pred.predict_gamma(pred.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array))
        settings = pred.settings
    else:
        lab = read_label(args.label)
        atoms, settings, h = lab.atoms(), lab.settings, lab.hamiltonian_ha
    t0 = time.perf_counter()
    functional = KohnShamFunctional(atoms, settings)
    profile = cProfile.Profile()
    profile.enable()
    if args.noise:
        import numpy as np

        x = np.random.default_rng(0).normal(scale=args.noise, size=h.shape)
        h = h + 0.5 * (x + x.T)
    res = functional.evaluate(h)
    profile.disable()
    print(f"total {time.perf_counter() - t0:.1f} s; timings (s): "
          + ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items()))
    if lab is not None:
        print(f"E - E_label = {res.energy_ev - lab.energy_ev:.2e} eV; "
              f"max |F - F_label| = {abs(res.forces_ev_per_a - lab.forces_ev_per_a).max():.2e} eV/A")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
