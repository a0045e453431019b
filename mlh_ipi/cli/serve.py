"""``mlh-ipi serve``: an i-PI client serving MLH (or DFT) energies, forces and electronic extras."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="i-PI client: MLH or DFT energies and forces over a socket",
                       description=__doc__)
    p.add_argument("--template", type=Path, required=True, help="structure with the species/atom order i-PI sends")
    p.add_argument("--engine", choices=("mlh", "dft"), default="mlh")
    p.add_argument("--model", help="checkpoint file or committee folder (engine mlh)")
    p.add_argument("--settings", type=Path, help="DFTSettings JSON (engine dft)")
    p.add_argument("--force-mode", choices=("consistent", "hellmann_feynman"), default="consistent",
                   help="engine mlh: exact gradient of the served energy (default) or the KS force "
                        "expression at the predicted density")
    p.add_argument("--defect-atoms", type=int, nargs="*", help="atom indices for defect-level picking")
    p.add_argument("--density-file", type=Path,
                   help="engine dft: keep the last converged density here (.npz) and start from it on restart")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix", metavar="ADDRESS", help="unix socket name (i-PI <address>)")
    where.add_argument("--inet", metavar="HOST:PORT", help="inet socket, e.g. localhost:31415")
    p.add_argument("--sockets-prefix", default="/tmp/ipi_", help="i-PI's unix socket prefix")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mlh_ipi.ipi.client import serve
    from mlh_ipi.ipi.failfast import ServerGone
    from mlh_ipi.ipi.pes import MLHDriver

    driver = MLHDriver(str(args.template), model=args.model, engine=args.engine,
                       settings=str(args.settings) if args.settings else None,
                       defect_atoms=args.defect_atoms, force_mode=args.force_mode,
                       density_file=str(args.density_file) if args.density_file else None)
    if args.unix:
        kw = {"address": args.unix, "unix": True}
    else:
        host, _, port = args.inet.rpartition(":")
        kw = {"address": host or "localhost", "unix": False, "port": int(port)}
    try:
        serve(driver, sockets_prefix=args.sockets_prefix, **kw)
    except ServerGone as err:
        print(f"mlh-ipi serve: {err}; exiting", file=sys.stderr)
        return 3
    print(json.dumps({"status": "i-PI sent EXIT"}))
    return 0
