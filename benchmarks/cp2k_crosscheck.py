"""Independent check of the DFT backend's forces against CP2K (same GTH-PBE, same MOLOPT basis).

CP2K is not a runtime dependency: install it with ``apt-get install cp2k``
(Debian ships 2023.1 with its BASIS_MOLOPT / GTH_POTENTIALS data). Both codes
run Gamma-point PBE with the same basis and pseudopotentials at the same grid
cutoff (CP2K's CUTOFF in Ry = 2 x ke_cutoff in Ha, REL_CUTOFF likewise).
Total energies are not comparable across codes (different G=0 conventions);
forces are.

Usage::

    python benchmarks/cp2k_crosscheck.py [STRUCTURE.extxyz] [--cutoff-ha 500] [--cache runs/cp2k]

Prints a table of force MAE / max deviation per element (meV/A) and the net
force of each code; target: MAE <= 30 meV/A.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
from ase.io import read

from mlh_ipi.atomic_io import save_npz
from mlh_ipi.dft.cell import valence_electrons
from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.threads import configure_threads
from mlh_ipi.units import HARTREE_PER_BOHR

CP2K_BASIS = {"gth-szv-molopt-sr": "SZV-MOLOPT-SR-GTH", "gth-dzvp-molopt-sr": "DZVP-MOLOPT-SR-GTH"}
DATA_DIRS = ("/usr/share/cp2k/data", "/usr/share/cp2k")


def cp2k_executable() -> str:
    for name in ("cp2k", "cp2k.psmp", "cp2k.ssmp", "cp2k.popt", "cp2k.sopt"):
        if shutil.which(name):
            return name
    raise FileNotFoundError("CP2K not found; install it with `apt-get install cp2k`")


def cp2k_input(atoms, settings: DFTSettings, project: str) -> str:
    kinds = []
    for sym in sorted(set(atoms.get_chemical_symbols())):
        q = valence_electrons([sym], settings)
        kinds.append(f"    &KIND {sym}\n      BASIS_SET {CP2K_BASIS[settings.basis]}\n"
                     f"      POTENTIAL GTH-PBE-q{q}\n    &END KIND")
    coords = "\n".join(f"      {s} {x:.10f} {y:.10f} {z:.10f}"
                       for s, (x, y, z) in zip(atoms.get_chemical_symbols(), atoms.positions))
    a, b, c = atoms.cell.array
    return f"""&GLOBAL
  PROJECT {project}
  RUN_TYPE ENERGY_FORCE
  PRINT_LEVEL LOW
&END GLOBAL
&FORCE_EVAL
  METHOD Quickstep
  &DFT
    BASIS_SET_FILE_NAME BASIS_MOLOPT
    POTENTIAL_FILE_NAME GTH_POTENTIALS
    &MGRID
      CUTOFF {2 * settings.ke_cutoff:.1f}
      REL_CUTOFF {2 * settings.rel_cutoff:.1f}
    &END MGRID
    &QS
      EPS_DEFAULT 1.0E-12
    &END QS
    &SCF
      EPS_SCF 1.0E-7
      MAX_SCF 200
      SCF_GUESS ATOMIC
      &OT ON
        MINIMIZER DIIS
        PRECONDITIONER FULL_SINGLE_INVERSE
      &END OT
    &END SCF
    &XC
      &XC_FUNCTIONAL PBE
      &END XC_FUNCTIONAL
    &END XC
  &END DFT
  &SUBSYS
    &CELL
      A {a[0]:.10f} {a[1]:.10f} {a[2]:.10f}
      B {b[0]:.10f} {b[1]:.10f} {b[2]:.10f}
      C {c[0]:.10f} {c[1]:.10f} {c[2]:.10f}
    &END CELL
    &COORD
{coords}
    &END COORD
{chr(10).join(kinds)}
  &END SUBSYS
  &PRINT
    &FORCES ON
    &END FORCES
  &END PRINT
&END FORCE_EVAL
"""


def parse_forces(text: str, natoms: int) -> np.ndarray:
    """Forces (eV/A) from CP2K's 'ATOMIC FORCES in [a.u.]' block (Hartree/Bohr)."""
    start = text.rfind("ATOMIC FORCES in [a.u.]")
    if start < 0:
        raise RuntimeError("CP2K output has no ATOMIC FORCES block")
    rows = []
    for line in text[start:].splitlines()[3:]:
        parts = line.split()
        if len(parts) == 6 and parts[0].isdigit():
            rows.append([float(x) for x in parts[3:6]])
        if len(rows) == natoms:
            break
    return np.array(rows) * HARTREE_PER_BOHR


def run_cp2k(atoms, settings, work: Path) -> np.ndarray:
    work.mkdir(parents=True, exist_ok=True)
    out = work / "cp2k.out"
    if not out.exists() or "ATOMIC FORCES" not in out.read_text():
        (work / "cp2k.inp").write_text(cp2k_input(atoms, settings, "xcheck"))
        data = next((d for d in DATA_DIRS if Path(d, "BASIS_MOLOPT").exists()), None)
        env = None
        if data:
            import os
            env = dict(os.environ, CP2K_DATA_DIR=data)
        with open(out, "w") as fh:
            subprocess.run([cp2k_executable(), "-i", "cp2k.inp"], cwd=work, stdout=fh,
                           stderr=subprocess.STDOUT, check=True, env=env)
    return parse_forces(out.read_text(), len(atoms))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("structure", nargs="?", default="examples/sio2_vo/data/hosts/asio2_48_s0.extxyz")
    p.add_argument("--cutoff-ha", type=float, default=None, help="grid cutoff (default: DFTSettings)")
    p.add_argument("--cache", type=Path, default=Path("runs/cp2k"))
    args = p.parse_args(argv)
    configure_threads()
    atoms = read(args.structure)
    settings = DFTSettings() if args.cutoff_ha is None else DFTSettings(ke_cutoff=args.cutoff_ha)
    work = args.cache / f"{Path(args.structure).stem}_ke{settings.ke_cutoff:g}"
    ours_file = work / "pyscf_forces.npz"
    if ours_file.exists():
        f_ours = np.load(ours_file)["forces"]
    else:
        t0 = time.perf_counter()
        f_ours = run_scf(atoms, settings).forces_ev_per_a()
        work.mkdir(parents=True, exist_ok=True)
        save_npz(ours_file, forces=f_ours, wall_s=np.array(time.perf_counter() - t0))
    f_cp2k = run_cp2k(atoms, settings, work)
    d = (f_ours - f_cp2k) * 1000
    syms = np.array(atoms.get_chemical_symbols())
    print(f"# {args.structure}: {len(atoms)} atoms, {settings.basis}, GTH-PBE, "
          f"{settings.ke_cutoff:g} Ha (CP2K CUTOFF {2 * settings.ke_cutoff:g} Ry)")
    print("| element | force MAE (meV/A) | max abs dev (meV/A) |")
    print("|---|---|---|")
    for s in sorted(set(syms)):
        m = syms == s
        print(f"| {s} | {np.abs(d[m]).mean():.1f} | {np.abs(d[m]).max():.1f} |")
    print(f"| all | {np.abs(d).mean():.1f} | {np.abs(d).max():.1f} |")
    for name, f in (("PySCF", f_ours), ("CP2K", f_cp2k)):
        print(f"net force / N, {name}: {np.linalg.norm(f.sum(0)) / len(atoms) * 1000:.1f} meV/A")


if __name__ == "__main__":
    main()
