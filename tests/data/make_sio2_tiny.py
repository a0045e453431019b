"""Regenerate the tiny SiO2 test labels in ``tests/data/sio2_tiny/`` (real PySCF DFT).

Four 9-atom alpha-quartz cells, positions rattled by 0.05 A (one of them also
strained by 2 %), labelled at the default ``DFTSettings()`` (PBE, GTH,
SZV-MOLOPT-SR, ke_cutoff 250 Ha). Each SCF takes 1-2 min on one core.

Why not a cheaper grid: at ke_cutoff = 60 Ha the multigrid "egg-box" error is
~100 meV in H (rigidly translating perfect quartz by 0.1 A changes H elements
by up to 159 meV, mean 2.7 meV; symmetry-equivalent O atoms differ by up to
68 meV on-site): noise no equivariant model should learn. At 250 Ha the
same translation changes H by at most 2.1 meV (mean 0.05 meV) and the SCF is
about as fast on these 9-atom cells (60 s vs 40 s on an idle core)::

    OMP_NUM_THREADS=1 python tests/data/make_sio2_tiny.py
"""
from __future__ import annotations

import sys
from pathlib import Path

from ase.spacegroup import crystal

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout without install

from mlh_ipi.data.labelfile import write_label
from mlh_ipi.dft.label import label
from mlh_ipi.dft.settings import DFTSettings

HERE = Path(__file__).resolve().parent / "sio2_tiny"
SETTINGS = DFTSettings()


def alpha_quartz():
    """9-atom alpha-quartz (P3_221, ITA origin), a = 4.916 A, c = 5.405 A, Si-O 1.605/1.614 A."""
    return crystal(("Si", "O"), basis=[(0.4697, 0.0, 2 / 3), (0.4135, 0.2669, 0.1191 + 2 / 3)],
                   spacegroup=154, cellpar=[4.916, 4.916, 5.405, 90, 90, 120])


def structures():
    for seed, strain in ((0, 0.0), (1, 0.0), (2, 0.0), (3, 0.02)):
        at = alpha_quartz()
        if strain:
            at.set_cell(at.cell.array * (1 + strain), scale_atoms=True)
        at.rattle(stdev=0.05, seed=seed)
        at.info["rattle_seed"] = seed
        at.info["strain"] = strain
        yield f"quartz9_s{seed}", at


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[1:])
    for name, at in structures():
        if only and name not in only:
            continue
        lab = label(at, SETTINGS)
        path = write_label(HERE / name, lab)
        print(f"{path.name}: E = {lab.energy_ev:.6f} eV, gap = {lab.band_gap_ev():.3f} eV, "
              f"{len(lab.overlap_pairs)} overlap blocks, scf {lab.provenance['wall_s']['scf']:.1f} s")


if __name__ == "__main__":
    main()
