"""``mlh-ipi label INPUT.extxyz --out DIR``: DFT labels for every frame, resumable."""
from __future__ import annotations

import argparse
from pathlib import Path

from ase.io import read

from mlh_ipi.cli.settings_args import add_dft_arguments, settings_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("label", help="label structures with the DFT backend (resumable)",
                       description=__doc__)
    p.add_argument("input", type=Path, help="extxyz (or any ASE-readable) file, all frames are labelled")
    p.add_argument("--out", type=Path, required=True, help="output folder of .label.npz files")
    p.add_argument("--retry-failed", action="store_true", help="retry structures recorded as failed")
    p.add_argument("--compact", action="store_true",
                   help="keep E, F and H only (~10x smaller files; S, D and eigenvalues are recomputed on read)")
    p.add_argument("--guess-model", type=Path, default=None,
                   help="start each SCF from the density of this Hamiltonian model (checkpoint or committee "
                        "folder; same basis and pseudopotentials): fewer SCF cycles, same converged result")
    add_dft_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.data.labelling import label_batch

    if not args.input.exists():
        raise FileNotFoundError(f"no such input file: {args.input}")
    frames = read(args.input, index=":")
    settings = settings_from_args(args)
    guess = None
    if args.guess_model is not None:
        from mlh_ipi.density_guess import mlh_density_guess

        guess = mlh_density_guess(args.guess_model, settings)
    report = label_batch(frames, args.out, settings, source=str(args.input),
                         retry_failed=args.retry_failed, compact=args.compact, density_guess=guess)
    print(report.summary())
    for i, reason in sorted(report.failed.items()):
        print(f"  failed {i}: {reason}")
    return 1 if report.failed else 0
