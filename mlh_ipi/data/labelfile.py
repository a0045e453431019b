"""One label per file: compressed ``.npz``, written atomically (schema in docs/labels.md).

Arrays keep their units in their names; scalars and provenance live in a JSON
string ``meta``. H and S are stored in float64 (energies are evaluated from
them); the density matrix and the image-resolved overlap blocks, which are
diagnostics and exactly recomputable, in float32 to keep files small. ``SCHEMA_VERSION`` is bumped on any incompatible change and
checked on read.
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


def write_label(path: str | Path, lab: Label) -> Path:
    """Write ``lab`` to ``path`` (``.label.npz`` appended if missing), atomically."""
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
