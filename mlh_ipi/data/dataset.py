"""Label folders -> structure graphs, and the deterministic train/validation/test split."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from mlh_ipi.data.graphs import StructureGraph, graph_from_label
from mlh_ipi.data.labelfile import label_files, read_label
from mlh_ipi.dft.settings import DFTSettings, check_compatible
from mlh_ipi.orbitals import OrbitalLayout

DEFAULT_SPLIT = (0.8, 0.1, 0.1)


def iter_graphs(folders: str | Path | Sequence[str | Path], cutoff_h: float, cutoff_mp: float,
                ) -> Iterator[tuple[StructureGraph, OrbitalLayout, DFTSettings]]:
    """Yield ``(graph, layout, settings)`` for every label file in ``folders`` (sorted by name).

    A graph's ``name`` is the file's stem, prefixed by its folder's name when several folders
    are read (label folders number their files alike: ``initial/000000``, ``round_001/000000``).
    Its ``source`` is ``(index of the folder in folders, file name)``."""
    if isinstance(folders, (str, Path)):
        folders = [folders]
    for k, folder in enumerate(folders):
        files = label_files(folder)
        if not files:
            raise FileNotFoundError(f"no label files (*.label.npz) in {folder}")
        for path in files:
            lab = read_label(path)
            name = path.name.removesuffix(".label.npz")
            if len(folders) > 1:
                name = f"{Path(folder).name}/{name}"
            g = graph_from_label(lab, cutoff_h, cutoff_mp, name=name)
            g.source = (k, path.name)
            yield g, lab.layout, lab.settings


def load_graphs(folders: str | Path | Sequence[str | Path], cutoff_h: float, cutoff_mp: float,
                ) -> tuple[list[StructureGraph], OrbitalLayout, DFTSettings]:
    """All graphs of ``folders``; ``ValueError`` if labels disagree on layout or DFT settings.

    The returned layout covers the union of elements seen (all labels must use
    the same basis and the same shells per element).
    """
    graphs, layout, settings = [], None, None
    for g, lay, st in iter_graphs(folders, cutoff_h, cutoff_mp):
        if settings is None:
            settings = st
        check_compatible(settings, st, what=f"label set (first label) vs {g.name}")
        layout = lay if layout is None else merge_layouts(layout, lay)
        graphs.append(g)
    for g in graphs:  # every graph refers to the merged layout's element indices
        if g.layout != layout:
            elements = list(layout.elements)
            g.layout = layout
            g.species = np.array([elements.index(s) for s in g.symbols], dtype=np.int64)
    return graphs, layout, settings


def merge_layouts(a: OrbitalLayout, b: OrbitalLayout) -> OrbitalLayout:
    """Union of two layouts of the same basis; ``ValueError`` if an element's shells differ."""
    if a.basis != b.basis or a.m_order != b.m_order:
        raise ValueError(f"orbital layouts differ: basis {a.basis!r} vs {b.basis!r}")
    shells = dict(a.shells)
    for el, ls in b.shells.items():
        if el in shells and shells[el] != ls:
            raise ValueError(f"orbital layouts differ for {el}: {shells[el]} vs {ls}")
        shells[el] = ls
    return OrbitalLayout(a.basis, shells, a.m_order)


def split_indices(n: int, fractions: Iterable[float] = DEFAULT_SPLIT, seed: int = 0,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deterministic random split of ``range(n)`` into train/validation/test (default 8:1:1).

    Validation and test sizes are rounded down (so small sets keep everything in
    training); at least one structure always goes to training.
    """
    f = np.asarray(list(fractions), dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or f.sum() <= 0:
        raise ValueError(f"split must be three non-negative fractions, got {list(fractions)}")
    f = f / f.sum()
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(np.floor(f[1] * n + 1e-9))
    n_test = int(np.floor(f[2] * n + 1e-9))
    if n > 0 and n_val + n_test >= n:
        n_test = max(0, min(n_test, n - 1 - n_val))
        n_val = max(0, min(n_val, n - 1 - n_test))
    n_train = n - n_val - n_test
    return (np.sort(perm[:n_train]), np.sort(perm[n_train:n_train + n_val]),
            np.sort(perm[n_train + n_val:]))
