"""Target normalisation from the training labels (Hartree), stored in every checkpoint.

* ``onsite_shift[element][orbital]``: mean diagonal of ``H^Gamma`` on-site
  blocks, averaged per element and per radial function (all ``2l+1``
  components of a shell share the value, so the shift is rotation invariant);
* ``scale``: RMS of the shifted ``H^Gamma`` elements inside atom-pair blocks
  that the model predicts (on-site, and pairs with an edge within ``r_H``).

The model predicts ``H = scale * raw + diag(onsite_shift)`` (shift on-site only).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlh_ipi.data.graphs import StructureGraph
from mlh_ipi.orbitals import OrbitalLayout


def compute_normalisation(graphs: Sequence[StructureGraph], layout: OrbitalLayout) -> dict:
    """``{"scale": float, "onsite_shift": [[...], ...]}`` (Hartree), rows in ``layout.elements`` order."""
    elements = list(layout.elements)
    nmax = max(layout.norb(s) for s in elements)
    sums = {el: np.zeros(len(layout.shells[el])) for el in elements}
    counts = {el: 0 for el in elements}
    for g in graphs:
        H = _target(g)
        for a, sym in enumerate(g.symbols):
            diag = np.diag(H)[g.atom_offsets[a]:g.atom_offsets[a + 1]]
            sums[sym] += [diag[sl].mean() for _, sl in layout.shell_slices(sym)]
            counts[sym] += 1
    shift = np.zeros((len(elements), nmax))
    for e, el in enumerate(elements):
        if counts[el]:
            per_shell = sums[el] / counts[el]
            for (l, sl), v in zip(layout.shell_slices(el), per_shell):
                shift[e, sl] = v
    sq, n = 0.0, 0
    for g in graphs:
        H = _target(g).copy()
        shifted_diag = np.concatenate([shift[elements.index(s), :layout.norb(s)] for s in g.symbols])
        H[np.diag_indices_from(H)] -= shifted_diag
        mask = _predicted_mask(g)
        sq += float((H[mask] ** 2).sum())
        n += int(mask.sum())
    scale = float(np.sqrt(sq / n)) if n else 1.0
    return {"scale": scale if scale > 0 else 1.0, "onsite_shift": shift.tolist()}


def _target(g: StructureGraph) -> np.ndarray:
    if g.hamiltonian_ha is None:
        raise ValueError(f"graph {g.name!r} has no Hamiltonian target")
    return g.hamiltonian_ha


def _predicted_mask(g: StructureGraph) -> np.ndarray:
    """AO-level mask of the atom-pair blocks the model predicts (on-site or an edge within r_H)."""
    atom_pairs = np.eye(g.natoms, dtype=bool)
    atom_pairs[g.edge_index[0], g.edge_index[1]] = True
    sizes = np.diff(g.atom_offsets)
    ao_atom = np.repeat(np.arange(g.natoms), sizes)
    return atom_pairs[np.ix_(ao_atom, ao_atom)]
