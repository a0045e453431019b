"""Regenerate the small models the demo ships (``mlh_ipi/resources/demo/``) from DFT labels.

Demo settings (``DEMO_SETTINGS``): PBE, GTH, SZV-MOLOPT-SR, **100 Ha** grid
cutoff, Gamma. This cutoff is chosen for speed (the demo relaxes two cells
through i-PI in minutes on 2 cores); forces at 100 Ha are not converged with
respect to the grid (BENCHMARKS.md §1: 500 Ha is the production default). The
MLH reproduces the DFT of its own settings, so the demo still shows the method
end to end; the production-setting study is ``examples/sio2_vo``.

Stages (each resumable; finished outputs are skipped):

1. ``labels``: three 24-atom a-SiO2 hosts (melt-quench, seeds 11-13); per host
   the host, 3 unrelaxed V_O and 6 rattled cells (N(0, 0.06 A), alternately
   host and V_O) -> 30 DFT labels in ``examples/demo_sio2/labels``.
2. ``mlh``: a small Hamiltonian model (``train_h.toml``) -> ``resources/demo/mlh.pt``.
3. ``mace``: a small MACE model on the same labels -> ``resources/demo/mace.model``.
4. ``o2``: the triplet O2 reference energy at the demo settings -> ``resources/demo/o2.json``.

Run::

    python examples/demo_sio2/make_demo_data.py [--stages labels mlh mace o2]
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

import numpy as np
from ase.io import read, write

HERE = Path(__file__).resolve().parent
RESOURCES = HERE.parents[1] / "mlh_ipi" / "resources" / "demo"
HOST_SEEDS = (11, 12, 13)
N_ATOMS = 24
RATTLE_STD_A = 0.06


def demo_settings():
    from mlh_ipi.dft.settings import DFTSettings

    return DFTSettings(ke_cutoff=100.0, conv_tol=1e-8)


def structures():
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2
    from mlh_ipi.structures.rattle import rattle
    from mlh_ipi.structures.sio2 import bridging_oxygens, make_oxygen_vacancy

    frames = []
    for seed in HOST_SEEDS:
        path = HERE / "hosts" / f"asio2_{N_ATOMS}_s{seed}.extxyz"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write(path, melt_quench_sio2(N_ATOMS, seed=seed))
        host = read(path)
        host.info.update({"host_seed": seed, "kind": "host"})
        frames.append(host)
        rng = np.random.default_rng(seed)
        sites = rng.choice(bridging_oxygens(host), size=6, replace=False)
        vos = []
        for site in sites:
            vo, _ = make_oxygen_vacancy(host, site=int(site))
            vo.info.update({"host_seed": seed, "kind": "V_O"})
            vos.append(vo)
        frames += vos[:3]
        for k in range(6):
            base = host if k % 2 == 0 else vos[3 + k // 2]
            snap = rattle(base, RATTLE_STD_A, seed=100 * seed + k)
            snap.info["kind"] = base.info["kind"] + " rattled"
            frames.append(snap)
    return frames


def stage_labels():
    from mlh_ipi.data.labelling import label_batch

    return label_batch(structures(), HERE / "labels", demo_settings(), source="demo_sio2")


def stage_mlh():
    from mlh_ipi.model.training import TrainConfig, train

    cfg = TrainConfig.from_toml(HERE / "train_h.toml")
    summary = train(cfg, resume=(Path(cfg.output) / "checkpoint.pt").exists())
    RESOURCES.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(cfg.output) / "best.pt", RESOURCES / "mlh.pt")
    return summary


def stage_mace():
    from mlh_ipi.cli.main import main

    work = HERE.parents[1] / "runs" / "demo_mace"
    rc = main(["train-mace", str(HERE / "labels"), "--out", str(work), "--epochs", "150"])
    if rc:
        raise RuntimeError(f"train-mace failed (rc={rc})")
    from mlh_ipi.forcefield.mace_training import model_path

    RESOURCES.mkdir(parents=True, exist_ok=True)
    shutil.copy(model_path(work / "member_0"), RESOURCES / "mace.model")


def stage_o2():
    from mlh_ipi.atomic_io import write_json
    from mlh_ipi.dft.o2 import o2_reference

    ref = o2_reference(demo_settings())
    RESOURCES.mkdir(parents=True, exist_ok=True)
    write_json(RESOURCES / "o2.json", {**ref.to_dict(), "settings": demo_settings().to_dict()})
    return ref


STAGES = {"labels": stage_labels, "mlh": stage_mlh, "mace": stage_mace, "o2": stage_o2}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from mlh_ipi.threads import configure_threads

    configure_threads()
    for name in args.stages:
        print(f"== {name}", flush=True)
        print(STAGES[name]())


if __name__ == "__main__":
    main()
