"""``mlh-ipi build``: make structures (extxyz) for labelling and simulation.

    mlh-ipi build sio2 --atoms 48 --density 2.2 --seed 0 --out host.extxyz
    mlh-ipi build vacancy host.extxyz (--site I | --random [--seed S]) --out vo.extxyz
    mlh-ipi build gaas --defect As_Ga --atoms 64 --out asga.extxyz
    mlh-ipi build rattle in.extxyz --std 0.05 --count 10 --seed 0 --out snaps.extxyz

Lengths in Angstrom, density in g/cm^3, temperatures in K.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase.io import read, write

from mlh_ipi.atomic_io import atomic_path, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("build", help="build a-SiO2 hosts, O vacancies, GaAs defects, rattled snapshots",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")

    s = what.add_parser("sio2", help="amorphous SiO2 by LAMMPS melt-quench (Vashishta potential)")
    s.add_argument("--atoms", type=int, default=48, help="number of atoms, a multiple of 3 (default 48)")
    s.add_argument("--density", type=float, default=2.20, help="g/cm^3 (default 2.20)")
    s.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="override a variable of the melt-quench LAMMPS script, e.g. "
                        "--set steps_cool2=10000 (repeatable)")
    s.add_argument("--lammps-log", type=Path, default=None, help="keep the LAMMPS log here")
    s.add_argument("--report", type=Path, default=None, help="also write the statistics as JSON")
    s.add_argument("--out", type=Path, required=True, help="output extxyz")
    s.set_defaults(func=run_sio2)

    v = what.add_parser("vacancy", help="remove one O from an SiO2 cell (V_O)")
    v.add_argument("host", type=Path, help="host structure (extxyz; the last frame is used)")
    pick = v.add_mutually_exclusive_group(required=True)
    pick.add_argument("--site", type=int, help="index of the O to remove")
    pick.add_argument("--random", action="store_true", help="remove a random bridging O")
    v.add_argument("--seed", type=int, default=0, help="seed for --random (default 0)")
    v.add_argument("--out", type=Path, required=True, help="output extxyz")
    v.set_defaults(func=run_vacancy)

    g = what.add_parser("gaas", help="zincblende GaAs supercell with one neutral point defect")
    from mlh_ipi.structures.gaas import A_GAAS_PBE, DEFECTS, SIZES

    g.add_argument("--defect", choices=DEFECTS, default="pristine")
    g.add_argument("--atoms", type=int, choices=SIZES, default=64, help="atoms of the perfect host")
    g.add_argument("--a", type=float, default=A_GAAS_PBE,
                   help=f"lattice constant in Angstrom (default {A_GAAS_PBE}, PBE)")
    g.add_argument("--site", type=int, default=None,
                   help="host atom index (vacancy/antisite) or tetrahedral-site index (interstitial); "
                        "default: nearest the cell centre")
    g.add_argument("--tsite", choices=("Ga", "As"), default=None,
                   help="interstitial site type T_Ga or T_As (default: T_As for Ga_i, T_Ga for As_i)")
    g.add_argument("--out", type=Path, required=True, help="output extxyz")
    g.set_defaults(func=run_gaas)

    r = what.add_parser("rattle", help="randomly displaced snapshots of every input frame")
    r.add_argument("input", type=Path, help="input structure(s), extxyz")
    r.add_argument("--std", type=float, default=None, help="Gaussian displacement std in Angstrom")
    r.add_argument("--strain", type=float, default=0.0, help="random symmetric cell strain std (default 0)")
    r.add_argument("--temperature", type=float, default=None,
                   help="K: Einstein-model thermal displacements instead of --std")
    r.add_argument("--einstein-thz", type=float, default=None,
                   help="Einstein frequency in THz (required with --temperature)")
    r.add_argument("--quantum", action="store_true", help="include zero-point motion (with --temperature)")
    r.add_argument("--count", type=int, default=10, help="snapshots per input frame (default 10)")
    r.add_argument("--seed", type=int, default=0, help="random seed >= 0 (default 0)")
    r.add_argument("--out", type=Path, required=True, help="output extxyz")
    r.set_defaults(func=run_rattle)


def _read(path: Path, index=-1):
    if not path.exists():
        raise FileNotFoundError(f"no such input file: {path}")
    return read(path, index=index)


def _write(path: Path, frames) -> None:
    with atomic_path(path, suffix=path.suffix or ".extxyz") as tmp:
        write(tmp, frames, format="extxyz")


def _parse_settings(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def run_sio2(args: argparse.Namespace) -> int:
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2
    from mlh_ipi.structures.analysis import format_sio2_report, sio2_report

    atoms = melt_quench_sio2(args.atoms, density=args.density, seed=args.seed,
                             log_file=args.lammps_log, **_parse_settings(args.set))
    report = sio2_report(atoms)
    report.update({k: atoms.info[k] for k in ("seed", "stream", "n_requench", "energy_eV", "pressure_GPa")})
    _write(args.out, atoms)
    if args.report:
        write_json(args.report, report)
    print(format_sio2_report(report))
    print(f"melt-quench: seed {args.seed}, stream {atoms.info['stream']}, "
          f"{atoms.info['n_requench']} retries, final pressure {atoms.info['pressure_GPa']:.1f} GPa")
    print(f"wrote {args.out}")
    return 0


def run_vacancy(args: argparse.Namespace) -> int:
    from mlh_ipi.structures.sio2 import make_oxygen_vacancy

    host = _read(args.host)
    defect, info = make_oxygen_vacancy(host, site=args.site, seed=args.seed if args.random else None)
    _write(args.out, defect)
    x, y, z = info["defect_position"]
    dists = ", ".join(f"{d:.3f}" for d in info["defect_si_o_distances"])
    print(f"removed O {info['defect_host_index']} at ({x:.3f}, {y:.3f}, {z:.3f}) A; "
          f"Si neighbours {info['defect_si_host']} in the host -> {info['defect_si']} "
          f"in the defect cell (Si-O {dists} A)")
    print(f"wrote {args.out} ({defect.get_chemical_formula()}, {len(defect)} atoms)")
    return 0


def run_gaas(args: argparse.Namespace) -> int:
    from mlh_ipi.structures.gaas import gaas_defect

    atoms = gaas_defect(args.defect, n_atoms=args.atoms, a=args.a, site=args.site, tsite=args.tsite)
    _write(args.out, atoms)
    where = atoms.info.get("defect_position")
    at = "" if where is None else " at ({:.3f}, {:.3f}, {:.3f}) A".format(*where)
    print(f"{args.defect}{at}: {atoms.get_chemical_formula()}, {len(atoms)} atoms, a = {args.a} A")
    print(f"wrote {args.out}")
    return 0


def run_rattle(args: argparse.Namespace) -> int:
    from mlh_ipi.structures.rattle import rattled_snapshots, thermal_snapshots

    if (args.std is None) == (args.temperature is None):
        raise ValueError("give exactly one of --std (Angstrom) or --temperature (K)")
    if args.temperature is not None and args.einstein_thz is None:
        raise ValueError("--temperature needs --einstein-thz")
    if args.temperature is not None and args.strain:
        raise ValueError("--strain applies to --std rattles only")
    frames = _read(args.input, index=":")
    out = []
    for n, frame in enumerate(frames):
        # frame 0 uses --seed itself (same as the library call); later frames derived streams
        seed = args.seed if n == 0 else int(np.random.SeedSequence([args.seed, n]).generate_state(1)[0])
        if args.temperature is None:
            snaps = rattled_snapshots(frame, args.std, args.count, seed=seed, strain=args.strain)
        else:
            snaps = thermal_snapshots(frame, args.temperature, args.count, seed=seed,
                                      frequency_thz=args.einstein_thz, quantum=args.quantum)
        for snap in snaps:
            snap.info["source_frame"] = n
        out.extend(snaps)
    _write(args.out, out)
    print(f"wrote {len(out)} snapshots of {len(frames)} frame(s) to {args.out}")
    return 0
