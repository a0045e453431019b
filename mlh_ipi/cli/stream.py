"""``mlh-ipi stream``: band gap and defect levels vs temperature from MD snapshots, streamed.

    mlh-ipi stream offline md300.extxyz --model mlh.pt --temperature 300 --defect V_O --out st
    mlh-ipi stream offline dump.lammpstrj --types Si O --model committee/ --temperature 600 \\
        --defect V_O --defect-atoms 12 7 --out st          # same folder: another group
    mlh-ipi stream md lammps_inputs/md_nvt_langevin.in --mace ff.model --data vo.extxyz \\
        --temps 300 600 --steps 20000 --model mlh.pt --every 50 --defect V_O --out runs/vo
    mlh-ipi stream ipi run/relax.extras_0 --temperature 300 --defect V_O --out st
    mlh-ipi stream report st
    mlh-ipi stream merge st_a st_b --out st_all
    mlh-ipi stream check-dft st labels/*.label.npz     # MLH vs DFT on labelled frames

Statistics (mean and thermal broadening of gap, VBM, CBM and each in-gap level,
keyed by temperature and defect kind) are checkpointed to ``OUT/checkpoint.json``;
rerunning a command resumes and skips snapshots already counted. Energies in eV,
temperatures in K, positions in Angstrom.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="on-the-fly band gap / defect level statistics of MD snapshots",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="stream_command", required=True, metavar="MODE")

    def common(q, model=True):
        if model:
            q.add_argument("--model", required=True, help="MLH checkpoint (.pt) or committee folder")
        q.add_argument("--defect", default="none", help="defect kind label of these snapshots (V_O, As_Ga, ...)")
        q.add_argument("--out", type=Path, required=True, help="stream folder (checkpoint, tables, plots)")

    def workers(q, policy_default):
        q.add_argument("--workers", type=int, default=1, help="MLH worker processes (0: inline)")
        q.add_argument("--queue", type=int, default=8, help="bounded queue length (snapshots)")
        q.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds between checkpoints")
        q.add_argument("--defect-atoms", type=int, nargs="+", default=None, metavar="I",
                       help="0-based indices of the defect's atoms for level picking "
                            "(default: info['defect_atoms'/'defect_si'] of the frame, else IPR)")
        q.add_argument("--valence-states", type=int, default=None, metavar="N",
                       help="number of states below the host gap: band edges by count, not by occupation "
                            "(donor levels above the CBM, acceptor levels below the VBM; default: occupation)")
        q.add_argument("--level-resonance", type=float, default=None, metavar="EV",
                       help="also report defect states up to EV outside the gap, flagged resonant (default 0)")
        if policy_default:
            q.add_argument("--policy", choices=("block", "drop"), default=policy_default,
                           help="full queue: MD waits (block) or the snapshot is dropped (drop)")

    o = ss.add_parser("offline", help="trajectory files (extxyz, LAMMPS text dump, ...)")
    o.add_argument("trajectories", nargs="+", type=Path)
    common(o)
    o.add_argument("--temperature", type=float, required=True, help="temperature of these frames, K")
    o.add_argument("--format", default=None, help="ASE format (default: by name; *.dump/*.lammpstrj "
                   "-> lammps-dump-text)")
    o.add_argument("--types", nargs="+", default=None, metavar="EL", help="element of LAMMPS type 1, 2, ...")
    o.add_argument("--every", type=int, default=1, help="use every n-th frame")
    workers(o, None)
    o.set_defaults(func=offline)

    m = ss.add_parser("md", help="LAMMPS+MACE MD (as mlh-ipi md) with the snapshot hook attached")
    m.add_argument("script", type=Path)
    m.add_argument("--mace", type=Path, nargs="+", required=True, help="MACE model file(s)")
    m.add_argument("--data", required=True, help="structure (ASE file or LAMMPS data file)")
    m.add_argument("--temps", type=float, nargs="+", required=True, help="temperatures, K")
    m.add_argument("--steps", type=int, required=True, help="final step of each run")
    m.add_argument("--every", type=int, required=True, help="snapshot stride (MD steps)")
    m.add_argument("--types", nargs="+", default=None, metavar="EL", help="element of LAMMPS type 1, 2, ...")
    m.add_argument("--seed", type=int, default=12345)
    m.add_argument("--var", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    m.add_argument("--skip-steps", type=int, default=0, metavar="N",
                   help="equilibration: snapshots of the first N MD steps of each run are not counted")
    common(m)
    workers(m, "drop")
    m.set_defaults(func=md)

    i = ss.add_parser("ipi", help="extras written by the MLH i-PI client (no model needed)")
    i.add_argument("extras", nargs="+", type=Path, help="i-PI extra_type='raw' trajectory files")
    i.add_argument("--temperature", type=float, required=True, help="K")
    common(i, model=False)
    i.set_defaults(func=ipi)

    r = ss.add_parser("report", help="tables and plots from a stream checkpoint")
    r.add_argument("folder", type=Path)
    r.add_argument("--out", type=Path, default=None, help="where to write (default: the folder)")
    r.set_defaults(func=report)

    d = ss.add_parser("check-dft", help="per-snapshot MLH gap/edges/levels vs DFT labels of the same frames")
    d.add_argument("folder", type=Path, help="stream folder (its snapshots.jsonl)")
    d.add_argument("labels", nargs="+", type=Path, help=".label.npz files of frames with info['step']")
    d.add_argument("--source", default=None, help="stream source of the frames (when several)")
    d.add_argument("--out", type=Path, default=None, help="where to write (default: the folder)")
    d.add_argument("--model", default=None,
                   help="the stream's model (checkpoint or committee folder): also report the errors at "
                        "the states DFT classifies (*_matched)")
    d.add_argument("--defect-atoms", type=int, nargs="+", default=None, metavar="I",
                   help="level picking of the DFT side, as the stream's (with --valence-states and "
                        "--level-resonance; default: each label's info)")
    d.add_argument("--valence-states", type=int, default=None, metavar="N",
                   help="band edges of the DFT side by count: N states below the host gap")
    d.add_argument("--level-resonance", type=float, default=None, metavar="EV",
                   help="DFT side also reports defect states up to EV outside the gap")
    d.set_defaults(func=check_dft)

    x = ss.add_parser("recompute", help="rebuild a folder's statistics from its per-snapshot log")
    x.add_argument("folder", type=Path)
    x.set_defaults(func=recompute)

    g = ss.add_parser("merge", help="pool the statistics of several stream folders")
    g.add_argument("folders", nargs="+", type=Path)
    g.add_argument("--out", type=Path, required=True)
    g.set_defaults(func=merge)


def _print(state, out) -> None:
    from mlh_ipi.stream.outputs import summary_rows

    c = state.counters
    print(f"snapshots: produced {c.produced}, processed {c.processed}, dropped {c.dropped}, "
          f"skipped {c.skipped} (already counted), failed {c.failed}; blocked {c.blocked_s:.2f} s")
    print(f"{'defect':>8} {'T (K)':>7} {'n':>6} {'gap (eV)':>9} {'+-thermal':>9} {'+-model':>8} "
          f"{'level0-CBM':>10} {'+-thermal':>9}")
    for r in summary_rows(state.stats):
        model = r.get("band_gap_committee_std_mean")
        lvl, lstd = r.get("level0_below_cbm_mean"), r.get("level0_below_cbm_std")
        print(f"{r['defect']:>8} {r['temperature_k']:>7g} {r['n_snapshots']:>6d} {r['band_gap_mean']:>9.4f} "
              f"{r['band_gap_std']:>9.4f} {'' if model is None else f'{model:.4f}':>8} "
              f"{'' if lvl is None else f'{-lvl:.4f}':>10} {'' if lstd is None else f'{lstd:.4f}':>9}")
    print(f"tables and plots in {out}")


def offline(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.run import stream_offline

    state = stream_offline(args.trajectories, args.model, args.out, args.temperature, args.defect,
                           fmt=args.format, type_map=args.types, defect_atoms=args.defect_atoms,
                           every=args.every, workers=args.workers, maxsize=args.queue,
                           checkpoint_every_s=args.checkpoint_every, valence_states=args.valence_states,
                           resonance_ev=args.level_resonance)
    _print(state, args.out)
    return 0


def md(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.run import stream_md

    _, state = stream_md(args.script, args.mace, args.data, args.temps, args.steps, args.out, args.model,
                         args.every, type_map=args.types, defect=args.defect, defect_atoms=args.defect_atoms,
                         workers=args.workers, maxsize=args.queue, policy=args.policy,
                         checkpoint_every_s=args.checkpoint_every, seed=args.seed,
                         variables=dict(args.var), threads=args.threads,
                         valence_states=args.valence_states, resonance_ev=args.level_resonance or 0.0,
                         skip_steps=args.skip_steps)
    _print(state, args.out / "stream")
    return 0


def ipi(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.run import stream_ipi

    _print(stream_ipi(args.extras, args.out, args.temperature, args.defect), args.out)
    return 0


def report(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.outputs import write_report
    from mlh_ipi.stream.state import StreamState

    state = StreamState.load(args.folder)
    out = args.out or args.folder
    write_report(state, out)
    _print(state, out)
    return 0


def merge(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.run import merge_runs

    _print(merge_runs(args.folders, args.out), args.out)
    return 0


def recompute(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.run import recompute_statistics

    _print(recompute_statistics(args.folder), args.folder)
    return 0


def check_dft(args: argparse.Namespace) -> int:
    from mlh_ipi.stream.dft_check import MATCHED, QUANTITIES, write_dft_check

    picking = None
    if args.defect_atoms is not None or args.valence_states is not None or args.level_resonance is not None:
        picking = {"defect_atoms": args.defect_atoms, "valence_states": args.valence_states,
                   "resonance_ev": float(args.level_resonance or 0.0)}
    summary = write_dft_check(args.folder, args.labels, args.out, args.source, model=args.model,
                              level_picking=picking)
    print(f"{summary['n_labels']} labelled snapshots; MLH - DFT (eV):")
    print(f"{'quantity':>18} {'n':>4} {'MAE':>8} {'mean':>8} {'max':>8}")
    for q in QUANTITIES + (MATCHED if args.model else ()):
        s = summary[q]
        if s["n"]:
            print(f"{q:>18} {s['n']:>4} {s['mae']:>8.4f} {s['mean_error']:>8.4f} {s['max_abs_error']:>8.4f}")
    print(f"dft_check.csv/json and dft_check_gap.png in {args.out or args.folder}")
    return 0
