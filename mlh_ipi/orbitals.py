"""The per-element atomic-orbital layout: one object read by dft, data, model and electronic.

Orbital order (the PySCF spherical-AO order, which every block in mlh-ipi uses):

* Per atom, radial functions ("shells") appear in the order of the basis set
  definition; a contracted shell with ``nctr`` contractions contributes ``nctr``
  consecutive radial functions of the same ``l``.
* Within one radial function of angular momentum ``l`` the ``2l+1`` real
  spherical harmonics are ordered

  - ``l = 0``: ``s``
  - ``l = 1``: ``p_x, p_y, p_z``  (PySCF's special case for p)
  - ``l >= 2``: ``m = -l, ..., +l`` real harmonics, e.g. for d:
    ``d_xy, d_yz, d_z2, d_xz, d_x2-y2``.

So SZV-MOLOPT-SR Si is ``[s, px, py, pz]`` (4 orbitals) and DZVP-MOLOPT-SR Si is
``[s, s', px, py, pz, px', py', pz', d-2, d-1, d0, d1, d2]`` (13 orbitals).

The layout is a value: build it once (``mlh_ipi.dft.basis.orbital_layout``),
store it with every label and checkpoint (``to_dict``/``from_dict``), and compare
with ``==``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

M_ORDER = "pyscf-real-spherical (p: x,y,z; l>=2: m=-l..l)"


@dataclass(frozen=True)
class OrbitalLayout:
    """Angular momenta of every radial function, per element, in AO order.

    ``shells[symbol]`` is a tuple of ``l`` values, one per radial function.
    """

    basis: str
    shells: Mapping[str, tuple[int, ...]]
    m_order: str = field(default=M_ORDER)

    def __post_init__(self) -> None:
        frozen = {str(k): tuple(int(l) for l in v) for k, v in sorted(self.shells.items())}
        object.__setattr__(self, "shells", frozen)

    # --- queries -----------------------------------------------------------
    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(self.shells)

    def norb(self, symbol: str) -> int:
        """Number of orbitals on an atom of ``symbol``."""
        return sum(2 * l + 1 for l in self._shells_of(symbol))

    def orbital_l(self, symbol: str) -> np.ndarray:
        """``l`` of each orbital of ``symbol`` (length ``norb``)."""
        return np.concatenate([np.full(2 * l + 1, l) for l in self._shells_of(symbol)])

    def shell_slices(self, symbol: str) -> list[tuple[int, slice]]:
        """``(l, slice)`` of each radial function within the atom's block."""
        out, start = [], 0
        for l in self._shells_of(symbol):
            out.append((l, slice(start, start + 2 * l + 1)))
            start += 2 * l + 1
        return out

    def atom_offsets(self, symbols: Sequence[str]) -> np.ndarray:
        """AO offset of each atom, plus the total as the last entry (length N+1)."""
        sizes = [self.norb(s) for s in symbols]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    def nao(self, symbols: Sequence[str]) -> int:
        return int(sum(self.norb(s) for s in symbols))

    @property
    def lmax(self) -> int:
        return max(max(v) for v in self.shells.values())

    def check_symbols(self, symbols: Iterable[str]) -> None:
        """Raise ``ValueError`` naming any element the layout does not cover."""
        unknown = sorted(set(symbols) - set(self.shells))
        if unknown:
            raise ValueError(
                f"element(s) {unknown} not in orbital layout for basis {self.basis!r} "
                f"(covers {list(self.shells)})"
            )

    def _shells_of(self, symbol: str) -> tuple[int, ...]:
        try:
            return self.shells[symbol]
        except KeyError:
            self.check_symbols([symbol])
            raise

    # --- serialisation -----------------------------------------------------
    def to_dict(self) -> dict:
        return {"basis": self.basis, "shells": {k: list(v) for k, v in self.shells.items()},
                "m_order": self.m_order}

    @classmethod
    def from_dict(cls, d: Mapping) -> "OrbitalLayout":
        return cls(basis=d["basis"], shells={k: tuple(v) for k, v in d["shells"].items()},
                   m_order=d.get("m_order", M_ORDER))

    def restricted_to(self, symbols: Iterable[str]) -> "OrbitalLayout":
        """The same layout for a subset of elements."""
        keep = set(symbols)
        self.check_symbols(keep)
        return OrbitalLayout(self.basis, {k: v for k, v in self.shells.items() if k in keep},
                             self.m_order)
