"""Small MACE models for the LAMMPS/MACE coupling tests and the MD benchmark.

:func:`small_mace_model` builds an untrained ``mace.modules.ScaleShiftMACE`` in
float64 from a fixed torch seed and saves it with ``torch.save`` (the format
``MACECalculator`` and :class:`mlh_ipi.lammps.mace_model.MACEPotential` load).
Random weights give a smooth, many-body, periodic potential: enough to check
that LAMMPS receives exactly MACE's energy, forces and virial, and that NVE
conserves energy. ``interaction_scale`` multiplies the interaction energy so
the forces are large enough (about 1 eV/Angstrom on a rattled GaAs cell) for
those checks to mean something.

:func:`bop_fitted_gaas_mace` fits such a model for 600 Adam steps (about a minute) to
energies and forces of the classical GaAs BOP potential (LAMMPS ``pair_style
bop``, ``GaAs.bop.table``) on thermal snapshots, so that zincblende GaAs is a
bound, vibrating solid in MD (used by ``benchmarks/md_speed.py`` and for the
RDF / VDOS example; the tests do not need it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

torch.serialization.add_safe_globals([slice])

from ase.data import atomic_numbers  # noqa: E402
from e3nn import o3  # noqa: E402
from mace import modules  # noqa: E402


def small_mace_model(path: str | Path, elements: Sequence[str] = ("Ga", "As"), seed: int = 0,
                     r_max: float = 4.5, interaction_scale: float = 1.0,
                     atomic_energies: Sequence[float] | None = None,
                     hidden: str = "16x0e", max_ell: int = 1) -> Path:
    """Build, seed and save a small float64 ``ScaleShiftMACE``; return ``path``.

    ``r_max`` in Angstrom (4.5 covers the first two neighbour shells of GaAs);
    ``atomic_energies`` (eV per atom, one per element) default to -3.0, -4.0, ...
    """
    zs = [atomic_numbers[e] for e in elements]
    order = np.argsort(zs)
    zs = [zs[i] for i in order]
    if atomic_energies is None:
        e0 = np.array([-3.0 - i for i in range(len(zs))])
    else:
        e0 = np.asarray(atomic_energies, dtype=float)[order]
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(seed)
        block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
        model = modules.ScaleShiftMACE(
            r_max=r_max, num_bessel=6, num_polynomial_cutoff=5, max_ell=max_ell,
            interaction_cls=block, interaction_cls_first=block, num_interactions=2,
            num_elements=len(zs), hidden_irreps=o3.Irreps(hidden), MLP_irreps=o3.Irreps("8x0e"),
            gate=torch.nn.functional.silu, atomic_energies=e0, avg_num_neighbors=16.0,
            atomic_numbers=zs, correlation=2, atomic_inter_scale=float(interaction_scale),
            atomic_inter_shift=0.0)
    finally:
        torch.set_default_dtype(prev)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.double(), path)
    return path


def bop_gaas_snapshots(n_frames: int = 24, temperatures: Sequence[float] = (300.0, 600.0, 900.0),
                       seed: int = 0, a: float = 5.65):
    """Thermal snapshots of 64-atom GaAs with BOP energies (eV) and forces (eV/Angstrom).

    Classical NVT (Langevin) MD with ``pair_style bop`` at each temperature in
    turn, plus 8 cells strained by +-2 % so the fit sees volume changes. Returns
    a list of ``ase.Atoms`` with ``info["energy"]`` and ``arrays["forces"]``.
    ``a`` is BOP's own lattice constant region (experiment 5.65 Angstrom).
    """
    from ase.build import bulk

    from mlh_ipi.lammps.runtime import open_lammps, potential_file

    frames = []
    base = bulk("GaAs", "zincblende", a=a, cubic=True).repeat((2, 2, 2))
    strains = np.linspace(-0.02, 0.02, 8)
    per_t = max(1, (n_frames - len(strains)) // len(temperatures))
    rng = np.random.default_rng(seed)
    for eps in strains:
        atoms = base.copy()
        atoms.set_cell(atoms.cell * (1 + eps), scale_atoms=True)
        atoms.rattle(0.08, seed=int(rng.integers(1 << 30)))
        frames.append(_bop_label(atoms))
    for t in temperatures:
        lmp = open_lammps()
        try:
            lo = base.cell.lengths()
            lmp.commands_string(f"""
                units metal
                atom_style atomic
                boundary p p p
                region box block 0 {lo[0]} 0 {lo[1]} 0 {lo[2]}
                create_box 2 box
                mass 1 69.723
                mass 2 74.9216
                pair_style bop
                pair_coeff * * {potential_file('GaAs.bop.table')} Ga As
                comm_modify cutoff 12.0
            """)
            for atom in base:
                lmp.command(f"create_atoms {1 if atom.symbol == 'Ga' else 2} single "
                            f"{atom.position[0]} {atom.position[1]} {atom.position[2]} remap yes units box")
            lmp.commands_string(f"""
                velocity all create {t} {seed + 1} mom yes dist gaussian
                fix 1 all nve
                fix 2 all langevin {t} {t} 0.1 {seed + 7}
                timestep 0.002
                run 500
            """)
            for _ in range(per_t):
                lmp.command("run 100")
                n = lmp.get_natoms()
                x = np.ctypeslib.as_array(lmp.gather_atoms("x", 1, 3)).reshape(n, 3)
                snap = base.copy()
                snap.positions = x
                snap.wrap()
                frames.append(_bop_label(snap))
        finally:
            lmp.close()
    return frames


def _bop_label(atoms):
    """BOP energy and forces of ``atoms`` (64-atom GaAs) in ``info``/``arrays``."""
    from mlh_ipi.lammps.runtime import open_lammps, potential_file

    lmp = open_lammps()
    try:
        c = atoms.cell.array
        lmp.commands_string(f"""
            units metal
            atom_style atomic
            atom_modify map array
            boundary p p p
            region box prism 0 {c[0, 0]} 0 {c[1, 1]} 0 {c[2, 2]} {c[1, 0]} {c[2, 0]} {c[2, 1]}
            create_box 2 box
            mass 1 69.723
            mass 2 74.9216
            pair_style bop
            pair_coeff * * {potential_file('GaAs.bop.table')} Ga As
            comm_modify cutoff 12.0
        """)
        for atom in atoms:
            lmp.command(f"create_atoms {1 if atom.symbol == 'Ga' else 2} single "
                        f"{atom.position[0]:.12f} {atom.position[1]:.12f} {atom.position[2]:.12f}"
                        f" remap yes units box")
        lmp.command("run 0")
        n = len(atoms)
        forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
        energy = float(lmp.get_thermo("pe"))
    finally:
        lmp.close()
    out = atoms.copy()
    out.info["energy"] = energy
    out.arrays["forces"] = forces
    return out


def fit_mace_to_frames(model_path: str | Path, frames, steps: int = 600, lr: float = 1e-2,
                       seed: int = 0, force_weight: float = 1.0) -> dict:
    """Fit a model saved by :func:`small_mace_model` to ``frames`` (energies, forces) in place.

    Plain Adam on ``(dE/N)^2 + force_weight * mean |dF|^2`` over single frames,
    graphs built by mace's own ``AtomicData``. Returns RMSEs before/after
    (energy meV/atom, forces meV/Angstrom) on the training frames.
    """
    from mace import data as mace_data
    from mace.tools import AtomicNumberTable, torch_geometric

    model_path = Path(model_path)
    model = torch.load(model_path, weights_only=False).double()
    z_table = AtomicNumberTable([int(z) for z in model.atomic_numbers])
    r_max = float(model.r_max)
    graphs = []
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for atoms in frames:
            config = mace_data.config_from_atoms(atoms)
            graphs.append(mace_data.AtomicData.from_config(config, z_table=z_table, cutoff=r_max))
        batches = [torch_geometric.Batch.from_data_list([g]) for g in graphs]
        energies = torch.tensor([a.info["energy"] for a in frames])
        forces = [torch.tensor(a.arrays["forces"]) for a in frames]
        n_at = torch.tensor([len(a) for a in frames], dtype=torch.float64)
        # reference per-atom energy: mean over frames, put into the E0s
        e_atom = float((energies / n_at).mean())
        model.atomic_energies_fn.atomic_energies.fill_(e_atom)

        def rmse():
            de, df = [], []
            for b, e, f, n in zip(batches, energies, forces, n_at):
                out = model(b.to_dict(), training=False, compute_force=True)
                de.append(float(out["energy"][0].detach() - e) / float(n))
                df.append(((out["forces"].detach() - f) ** 2).mean().item())
            return 1e3 * float(np.sqrt(np.mean(np.square(de)))), 1e3 * float(np.sqrt(np.mean(df)))

        before = rmse()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        rng = np.random.default_rng(seed)
        for _ in range(steps):
            k = int(rng.integers(len(batches)))
            out = model(batches[k].to_dict(), training=True, compute_force=True)
            loss = ((out["energy"][0] - energies[k]) / n_at[k]) ** 2 \
                + force_weight * ((out["forces"] - forces[k]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        after = rmse()
    finally:
        torch.set_default_dtype(prev)
    torch.save(model, model_path)
    return {"energy_rmse_mev_per_atom": [before[0], after[0]],
            "force_rmse_mev_per_a": [before[1], after[1]], "steps": steps, "frames": len(frames)}


def bop_fitted_gaas_mace(path: str | Path, steps: int = 600, seed: int = 0) -> Path:
    """Small GaAs MACE fitted to BOP snapshots (cached: reused if ``path`` exists)."""
    path = Path(path)
    if path.is_file():
        return path
    tmp = path.with_suffix(".fitting")
    small_mace_model(tmp, ("Ga", "As"), seed=seed)
    stats = fit_mace_to_frames(tmp, bop_gaas_snapshots(seed=seed), steps=steps, seed=seed)
    tmp.replace(path)
    path.with_suffix(".fit.txt").write_text(repr(stats) + "\n")
    return path
