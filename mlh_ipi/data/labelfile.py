"""One label per file: compressed ``.npz``, written atomically (schema in docs/labels.md).

Arrays keep their units in their names; scalars and provenance live in a JSON
string ``meta``. H and S are stored in float64 (energies are evaluated from
them); the density matrix and the image-resolved overlap blocks, which are
diagnostics and exactly recomputable, in float32 to keep files small.
``SCHEMA_VERSION`` is bumped on any incompatible change and checked on read.

**Compact labels** (``write_label(..., compact=True)``, ``meta["compact"]``) keep
what the SCF alone can give: positions, cell, E, F, and H^Γ (upper triangle,
float32: ~1e-7 Ha rounding, far below the meV scale of model errors). Everything
else is a function of the positions and the settings, or of H and S, and
``read_label`` recomputes it with PySCF (:func:`mlh_ipi.dft.label.derived_matrices`,
about a second for 64 atoms): S and S_ij(R) exactly, and the eigenvalues and
density matrix from H c = ε S c with the SCF's own occupation rule. A 64-atom
GaAs label shrinks ~10x, small enough to keep long active-learning runs in git.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from mlh_ipi.atomic_io import save_npz
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.dft.types import Label
from mlh_ipi.orbitals import OrbitalLayout

SCHEMA_VERSION = 1
SUFFIX = ".label.npz"


def write_label(path: str | Path, lab: Label, compact: bool = False) -> Path:
    """Write ``lab`` to ``path`` (``.label.npz`` appended if missing), atomically;
    ``compact`` keeps only positions, cell, E, F and H (see the module doc)."""
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        path = path.with_name(path.name + SUFFIX)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "symbols": list(lab.symbols),
        "energy_ev": float(lab.energy_ev),
        "nelectron": int(lab.nelectron),
        "layout": lab.layout.to_dict(),
        "settings": lab.settings.to_dict(),
        "provenance": lab.provenance,
        "info": lab.info,
    }
    if compact:
        meta["compact"] = True
        upper = np.triu_indices(lab.hamiltonian_ha.shape[0])
        save_npz(path, meta=np.array(json.dumps(meta)),
                 positions_a=np.asarray(lab.positions_a, dtype=np.float64),
                 cell_a=np.asarray(lab.cell_a, dtype=np.float64),
                 forces_ev_per_a=np.asarray(lab.forces_ev_per_a, dtype=np.float64),
                 hamiltonian_upper_ha=np.asarray(lab.hamiltonian_ha)[upper].astype(np.float32))
        return path
    sizes = np.array([b.size for b in lab.overlap_blocks], dtype=np.int64)
    flat = np.concatenate([b.ravel() for b in lab.overlap_blocks]) if sizes.size else np.zeros(0)
    flat = flat.astype(np.float32)
    save_npz(
        path,
        meta=np.array(json.dumps(meta)),
        positions_a=np.asarray(lab.positions_a, dtype=np.float64),
        cell_a=np.asarray(lab.cell_a, dtype=np.float64),
        forces_ev_per_a=np.asarray(lab.forces_ev_per_a, dtype=np.float64),
        hamiltonian_ha=np.asarray(lab.hamiltonian_ha, dtype=np.float64),
        overlap=np.asarray(lab.overlap, dtype=np.float64),
        density_matrix=np.asarray(lab.density_matrix, dtype=np.float32),
        mo_energy_ha=np.asarray(lab.mo_energy_ha, dtype=np.float64),
        overlap_pairs=np.asarray(lab.overlap_pairs, dtype=np.int64),
        overlap_block_sizes=sizes,
        overlap_blocks_flat=flat,
    )
    return path


def read_label(path: str | Path) -> Label:
    """Read a label file; raise ``ValueError`` for a wrong or newer schema."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{path}: label schema {meta.get('schema_version')} "
                             f"(this mlh-ipi reads {SCHEMA_VERSION})")
        layout = OrbitalLayout.from_dict(meta["layout"])
        symbols = meta["symbols"]
        if meta.get("compact"):
            return _read_compact(z, meta, layout)
        offsets = layout.atom_offsets(symbols)
        pairs = z["overlap_pairs"]
        shapes = [(offsets[i + 1] - offsets[i], offsets[j + 1] - offsets[j]) for i, j in pairs[:, :2]]
        flat, blocks, start = z["overlap_blocks_flat"], [], 0
        for shp in shapes:
            n = shp[0] * shp[1]
            blocks.append(flat[start:start + n].reshape(shp))
            start += n
        return Label(
            symbols=symbols,
            positions_a=z["positions_a"],
            cell_a=z["cell_a"],
            energy_ev=meta["energy_ev"],
            forces_ev_per_a=z["forces_ev_per_a"],
            hamiltonian_ha=z["hamiltonian_ha"],
            overlap=z["overlap"],
            density_matrix=z["density_matrix"],
            mo_energy_ha=z["mo_energy_ha"],
            nelectron=meta["nelectron"],
            layout=layout,
            settings=DFTSettings.from_dict(meta["settings"]),
            overlap_pairs=pairs,
            overlap_blocks=blocks,
            provenance=meta["provenance"],
            info=meta["info"],
        )


def read_label_geometry(path: str | Path):
    """The structure of a label file as ``ase.Atoms`` (Angstrom, periodic, ``info`` as stored),
    without its matrices: no PySCF, no H or S read. For checks and statistics over many labels."""
    from ase import Atoms

    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"{path}: label schema {meta.get('schema_version')} "
                             f"(this mlh-ipi reads {SCHEMA_VERSION})")
        atoms = Atoms(meta["symbols"], positions=z["positions_a"], cell=z["cell_a"], pbc=True)
    atoms.info.update(meta.get("info", {}))
    return atoms


def _read_compact(z, meta: dict, layout: OrbitalLayout) -> Label:
    """A compact label with S, S_ij(R), eigenvalues and D recomputed (module doc)."""
    from mlh_ipi.dft.label import derived_matrices  # PySCF, only for compact files

    symbols, settings = meta["symbols"], DFTSettings.from_dict(meta["settings"])
    packed = np.asarray(z["hamiltonian_upper_ha"], dtype=np.float64)
    nao = layout.atom_offsets(symbols)[-1]
    h = np.zeros((nao, nao))
    h[np.triu_indices(nao)] = packed
    h = h + np.triu(h, 1).T
    positions, cell = z["positions_a"], z["cell_a"]
    d = derived_matrices(symbols, positions, cell, h, settings)
    if d["nelectron"] != meta["nelectron"]:
        raise ValueError(f"compact label: {d['nelectron']} electrons from the settings, "
                         f"{meta['nelectron']} stored")
    return Label(symbols=symbols, positions_a=positions, cell_a=cell, energy_ev=meta["energy_ev"],
                 forces_ev_per_a=z["forces_ev_per_a"], hamiltonian_ha=h, overlap=d["overlap"],
                 density_matrix=d["density_matrix"], mo_energy_ha=d["mo_energy_ha"],
                 nelectron=meta["nelectron"], layout=layout, settings=settings,
                 overlap_pairs=d["overlap_pairs"], overlap_blocks=d["overlap_blocks"],
                 provenance=meta["provenance"], info=meta["info"])


def label_files(folder: str | Path) -> list[Path]:
    """Label files in ``folder``, sorted by name."""
    return sorted(Path(folder).glob(f"*{SUFFIX}"))


def collect_label_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every ``.label.npz`` named directly or found (non-recursively) in the folders given.

    Raises ``FileNotFoundError`` for a path that does not exist and
    ``ValueError`` if nothing is found.
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(label_files(p))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such label file or folder: {p}")
    if not files:
        raise ValueError(f"no .label.npz files in {[str(p) for p in paths]}")
    return files
