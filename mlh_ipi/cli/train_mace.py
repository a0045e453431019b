"""``mlh-ipi train-mace LABEL_DIRS... --out DIR [--committee N]``: MACE force field(s) from DFT labels.

Exports the labels to ``DIR/train.extxyz`` (``REF_energy`` eV, ``REF_forces``
eV/Å) and trains with mace-torch's ``mace_run_train`` into ``DIR/member_K/mace.model``
(seeds SEED..SEED+N-1). Rerunning the same command resumes: finished members are
skipped, an interrupted one continues from its latest checkpoint. With
``--test``, the committee-mean errors on those labels go to ``DIR/test_errors.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-mace", help="train MACE force field(s) on DFT labels (mace-torch)",
                       description=__doc__)
    p.add_argument("labels", type=Path, nargs="+", help=".label.npz files or folders of them")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--committee", type=int, default=1, metavar="N", help="number of models (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first model (default 0)")
    p.add_argument("--epochs", type=int, default=None, help="max epochs (default 100)")
    p.add_argument("--r-max", type=float, default=None, help="cutoff in Å (default 5.0)")
    p.add_argument("--channels", type=int, default=None, help="MACE channels (default 16)")
    p.add_argument("--max-L", type=int, default=None, dest="max_L", help="message max L (default 1)")
    p.add_argument("--E0s", default=None, help='isolated-atom energies: "average" (default), '
                                              '"estimated" or a dict literal in eV')
    p.add_argument("--device", default=None, help="cpu (default) or cuda")
    p.add_argument("--valid", type=Path, nargs="+", default=None,
                   help="validation labels (default: a random 10%% of the training labels per model)")
    p.add_argument("--test", type=Path, nargs="+", default=None, help="test labels for the error summary")
    p.add_argument("--mace-arg", action="append", default=[], metavar="ARG",
                   help="extra mace_run_train argument, repeatable (e.g. --mace-arg=--swa)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.forcefield.mace_training import MACETrainingSettings, train_committee
    from mlh_ipi.forcefield.export import export_labels
    from mlh_ipi.threads import default_threads

    if args.committee < 1:
        raise ValueError(f"--committee must be >= 1, got {args.committee}")
    overrides = {"max_num_epochs": args.epochs, "r_max": args.r_max, "num_channels": args.channels,
                 "max_L": args.max_L, "E0s": args.E0s, "device": args.device}
    settings = MACETrainingSettings.from_dict(
        {k: v for k, v in overrides.items() if v is not None} | {"extra_args": tuple(args.mace_arg)})
    out = args.out
    train_file = out / "train.extxyz"
    n_train = len(export_labels(args.labels, train_file))
    valid_file = test_file = None
    if args.valid:
        valid_file = out / "valid.extxyz"
        export_labels(args.valid, valid_file)
    if args.test:
        test_file = out / "test.extxyz"
        export_labels(args.test, test_file)
    threads = args.threads or default_threads()
    models = train_committee(train_file, out, settings, args.committee, seed=args.seed,
                             valid_file=valid_file, test_file=test_file, threads=threads,
                             progress=not args.no_progress)
    summary = {"n_train": n_train, "models": [str(m) for m in models]}
    if test_file is not None:
        from mlh_ipi.atomic_io import write_json
        from mlh_ipi.forcefield.committee import load_mace
        from mlh_ipi.forcefield.errors import force_field_errors
        from mlh_ipi.forcefield.export import read_reference

        calc = load_mace(models, device=settings.device, default_dtype=settings.default_dtype)
        summary["test"] = force_field_errors(calc, *read_reference(test_file))
        write_json(out / "test_errors.json", summary["test"])
    print(json.dumps(summary, indent=2))
    return 0
