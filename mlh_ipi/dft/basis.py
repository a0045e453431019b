"""The orbital layout of a PySCF cell, read from its basis (never hard-coded per element)."""
from __future__ import annotations

from pyscf.pbc import gto

from mlh_ipi.orbitals import OrbitalLayout


def orbital_layout(cell: gto.Cell, basis_name: str) -> OrbitalLayout:
    """The ``OrbitalLayout`` of ``cell``: per element, ``l`` of each radial function in AO order.

    Reads ``cell._bas`` so the order is PySCF's own: shells in basis-definition
    order, each contracted shell expanded into ``nctr`` radial functions.
    """
    if cell.cart:
        raise ValueError("mlh-ipi uses spherical AOs; cell.cart must be False")
    shells: dict[str, tuple[int, ...]] = {}
    for ia in range(cell.natm):
        sym = cell.atom_pure_symbol(ia)
        if sym in shells:
            continue
        ls = []
        for ib in cell.atom_shell_ids(ia):
            ls.extend([int(cell.bas_angular(ib))] * int(cell.bas_nctr(ib)))
        shells[sym] = tuple(ls)
    layout = OrbitalLayout(basis=basis_name, shells=shells)
    symbols = [cell.atom_pure_symbol(i) for i in range(cell.natm)]
    offsets = layout.atom_offsets(symbols)
    ref = cell.aoslice_by_atom()[:, 2:4]
    if offsets[-1] != cell.nao_nr() or not (offsets[:-1] == ref[:, 0]).all():
        raise RuntimeError("orbital layout disagrees with PySCF's AO slices")  # pragma: no cover
    return layout
