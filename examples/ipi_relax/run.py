#!/usr/bin/env python
"""Run one of the i-PI relaxations in this folder: start ``i-pi``, then the ``mlh-ipi serve`` client.

    python examples/ipi_relax/run.py host_mlh --model examples/sio2_vo/model/best.pt
    python examples/ipi_relax/run.py vo_mlh   --model examples/sio2_vo/model/best.pt
    python examples/ipi_relax/run.py host_dft [--settings examples/ipi_relax/dft_settings.json]
    python examples/ipi_relax/run.py vo_dft   [--model M.pt]   # DFT with the model's settings

Each ``NAME.xml`` is a plain i-PI input (fixed-cell geometry optimisation, lbfgs
for MLH, bfgs for DFT, stop when the largest force component is below
20 meV/Å = 3.889e-4 Ha/Bohr). The script copies it and its start structure to
``--workdir`` (default ``runs/ipi_relax/NAME``), gives the socket a unique name
so that several runs can share a machine, starts ``i-pi`` there, waits for its
socket, starts the client, waits for i-PI to finish, and cleans up: both
processes are stopped and the socket file removed on success, on error, on
Ctrl-C and on SIGTERM. ``--structure`` relaxes another extxyz instead of the
shipped one (same species order rules), ``--max-steps`` overrides
``<total_steps>``. The trajectory and energies stay in the work folder
(``NAME.out``, ``NAME.pos_0.xyz``, ``NAME.frc_0.xyz``, ``NAME.extras_0``).

Manual equivalent (two shells)::

    cd examples/ipi_relax && i-pi host_mlh.xml
    mlh-ipi serve --template examples/ipi_relax/host.extxyz --model M.pt --unix host_mlh
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOCKET_PREFIX = "/tmp/ipi_"
RUNS = {  # name -> (start structure, engine)
    "host_mlh": ("host.extxyz", "mlh"),
    "vo_mlh": ("vo.extxyz", "mlh"),
    "host_dft": ("host.extxyz", "dft"),
    "vo_dft": ("vo.extxyz", "dft"),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", choices=sorted(RUNS))
    p.add_argument("--model", help="MLH checkpoint (needed for *_mlh; for *_dft it supplies the DFT settings)")
    p.add_argument("--settings", type=Path, default=None,
                   help="DFTSettings JSON for *_dft (default: the model's settings, else dft_settings.json)")
    p.add_argument("--structure", type=Path, help="relax this extxyz instead of the shipped start structure")
    p.add_argument("--max-steps", type=int, help="override <total_steps>")
    p.add_argument("--workdir", type=Path, help="run folder (default runs/ipi_relax/NAME)")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    args = p.parse_args(argv)

    init_name, engine = RUNS[args.name]
    if engine == "mlh" and not args.model:
        p.error(f"{args.name} needs --model")
    work = (args.workdir or Path("runs") / "ipi_relax" / args.name).resolve()
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob(f"{args.name}.*"):
        old.unlink()  # a fresh start: i-PI would otherwise append to old outputs

    # the input: shipped XML with a unique socket name (and optional step cap), start structure copied
    address = f"{args.name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    xml = (HERE / f"{args.name}.xml").read_text()
    xml = re.sub(r"<address>.*?</address>", f"<address>{address}</address>", xml)
    if args.max_steps is not None:
        xml = re.sub(r"<total_steps>\d+</total_steps>", f"<total_steps>{args.max_steps}</total_steps>", xml)
    (work / "input.xml").write_text(xml)
    shutil.copyfile(args.structure or HERE / init_name, work / init_name)

    client_cmd = [sys.executable, "-m", "mlh_ipi.cli.main", "serve", "--template", str(work / init_name),
                  "--engine", engine, "--unix", address, "--sockets-prefix", SOCKET_PREFIX]
    if args.model:
        client_cmd += ["--model", str(Path(args.model).resolve())]
    if engine == "dft":
        client_cmd += ["--settings", str(dft_settings(args, work))]
    defect_si = defect_atoms(work / init_name)
    if defect_si:
        client_cmd += ["--defect-atoms", *map(str, defect_si)]

    socket = Path(SOCKET_PREFIX + address)
    procs: list[subprocess.Popen] = []
    signal.signal(signal.SIGTERM, _raise_interrupt)  # clean up on kill as on Ctrl-C,
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    t0 = time.time()
    try:
        with open(work / "ipi.log", "w") as ipi_log, open(work / "client.log", "w") as client_log:
            server = subprocess.Popen([_ipi_executable(), "input.xml"], cwd=work, stdout=ipi_log,
                                      stderr=subprocess.STDOUT)
            procs.append(server)
            while not socket.exists():  # i-PI creates the socket once it is ready
                if server.poll() is not None:
                    raise RuntimeError(f"i-PI exited before opening its socket, see {work / 'ipi.log'}")
                if time.time() - t0 > 120:
                    raise TimeoutError("i-PI did not open its socket within 120 s")
                time.sleep(0.1)
            client = subprocess.Popen(client_cmd, cwd=work, stdout=client_log, stderr=subprocess.STDOUT)
            procs.append(client)
            print(f"{args.name}: i-PI pid {server.pid}, client pid {client.pid}, socket {socket}, folder {work}",
                  flush=True)
            while server.poll() is None:
                if client.poll() not in (None, 0):
                    raise RuntimeError(f"client failed (rc={client.returncode}), see {work / 'client.log'}")
                if args.timeout and time.time() - t0 > args.timeout:
                    raise TimeoutError(f"gave up after {args.timeout} s")
                time.sleep(0.2)
            if server.returncode != 0:
                raise RuntimeError(f"i-PI exited with rc={server.returncode}, see {work / 'ipi.log'}")
            client.wait(timeout=60)  # i-PI sent EXIT; the client leaves on its own
    except KeyboardInterrupt:
        print(f"{args.name}: interrupted, stopping i-PI and the client", file=sys.stderr)
        return 130
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if socket.exists():
            socket.unlink()
    report(work, args.name, time.time() - t0)
    return 0


def dft_settings(args, work: Path) -> Path:
    """The DFT settings file for the client: --settings, else the model's settings, else the shipped defaults."""
    if args.settings:
        return args.settings.resolve()
    if args.model:
        from mlh_ipi.calculator import load_hamiltonian_model

        path = work / "dft_settings.json"
        path.write_text(json.dumps(load_hamiltonian_model(args.model).settings.to_dict(), indent=2))
        return path
    return HERE / "dft_settings.json"


def defect_atoms(structure: Path) -> list[int]:
    """The dangling-bond Si of a vacancy cell (``defect_si`` in its extxyz info), for defect-level picking."""
    from ase.io import read

    return [int(k) for k in read(structure).info.get("defect_si", [])]


def report(work: Path, name: str, wall_s: float) -> None:
    from mlh_ipi.ipi.inputs import read_properties, read_raw_extras

    energies = read_properties(work / f"{name}.out")["potential"]
    extras = read_raw_extras(work / f"{name}.extras_0")
    last = extras[-1] if extras else {}
    lines = (work / f"{name}.frc_0.xyz").read_text().splitlines()
    n = int(lines[0])
    fmax = max(abs(float(x)) for ln in lines[-n:] for x in ln.split()[1:4])  # last frame, eV/Å
    print(f"{name}: {len(energies)} steps, E {energies[0]:.4f} -> {energies[-1]:.4f} eV, "
          f"max force component {fmax:.4f} eV/Å, "
          f"band gap {last.get('band_gap', float('nan')):.3f} eV, "
          f"defect levels {last.get('defect_levels', [])} eV, {wall_s:.0f} s wall")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _ipi_executable() -> str:
    cand = Path(sys.executable).parent / "i-pi"
    return str(cand) if cand.exists() else "i-pi"


if __name__ == "__main__":
    sys.exit(main())
