"""One settings object for every DFT evaluation in mlh-ipi (labels, E_KS[D], O2 reference).

The same ``DFTSettings`` value is stored in every label file and model
checkpoint; loading a model against different settings is an error
(``check_compatible``).  Pure Python: importing it does not import PySCF.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Mapping

from mlh_ipi.strict import from_mapping

SUPPORTED_BASES = ("gth-szv-molopt-sr", "gth-dzvp-molopt-sr")

# Fields that change the Hamiltonian/energy a model was trained on. Numerical
# knobs such as the SCF tolerance or the iteration cap are not in this list.
PHYSICS_FIELDS = ("xc", "pseudo", "basis", "ke_cutoff", "kmesh", "smearing", "precision",
                  "rel_cutoff")


@dataclass(frozen=True)
class DFTSettings:
    """Settings of the PySCF periodic Kohn-Sham reference.

    Attributes
    ----------
    xc : exchange-correlation functional (PySCF/libxc name), default PBE.
    pseudo : GTH pseudopotential family, default ``gth-pbe``.
    basis : Gaussian basis; ``gth-szv-molopt-sr`` (default) or ``gth-dzvp-molopt-sr``.
        Any basis PySCF knows is accepted; these two are tested.
    ke_cutoff : plane-wave kinetic-energy cutoff of the density grid, in **Hartree**.
        The default (500 Ha) comes from the force-convergence study in
        BENCHMARKS.md (forces within 10 meV/A of a higher cutoff, |sum F|/N < 20 meV/A).
    precision : integral screening threshold (PySCF ``cell.precision``).
    kmesh : Monkhorst-Pack mesh; ``(1, 1, 1)`` is the Gamma point, which uses
        PySCF's ``multigrid_numint()`` (the Gamma-only path with analytic forces).
    smearing : Fermi-Dirac width in **eV**, or ``None`` for an insulator with
        integer occupations.
    rel_cutoff : multigrid relative cutoff in **Hartree** (PySCF ``MultiGridNumInt2.rel_cutoff``,
        CP2K's REL_CUTOFF): the grid a Gaussian product of exponent a lands on has a
        cutoff of at least ``a * rel_cutoff``. Part of the force-convergence study.
    conv_tol : SCF energy convergence threshold in **Hartree**.
    max_cycle : SCF iteration cap; a non-converged SCF raises ``SCFNotConverged``.
    spin : 2S (number of unpaired electrons); nonzero selects unrestricted KS.
    """

    xc: str = "PBE"
    pseudo: str = "gth-pbe"
    basis: str = "gth-szv-molopt-sr"
    ke_cutoff: float = 500.0
    precision: float = 1e-8
    kmesh: tuple[int, int, int] = (1, 1, 1)
    smearing: float | None = None
    rel_cutoff: float = 20.0
    conv_tol: float = 1e-9
    max_cycle: int = 100
    spin: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kmesh", tuple(int(k) for k in self.kmesh))
        object.__setattr__(self, "ke_cutoff", float(self.ke_cutoff))
        if len(self.kmesh) != 3 or min(self.kmesh) < 1:
            raise ValueError(f"kmesh must be three positive integers, got {self.kmesh}")
        if self.ke_cutoff <= 0:
            raise ValueError(f"ke_cutoff must be positive (Hartree), got {self.ke_cutoff}")
        if self.smearing is not None and self.smearing <= 0:
            raise ValueError(f"smearing must be a positive width in eV or None, got {self.smearing}")

    @property
    def is_gamma(self) -> bool:
        return self.kmesh == (1, 1, 1)

    def with_(self, **changes: Any) -> "DFTSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kmesh"] = list(self.kmesh)
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DFTSettings":
        return from_mapping(cls, d, "DFT setting")

    def physics_key(self) -> dict:
        """The fields that define the Hamiltonian (used for compatibility checks)."""
        d = self.to_dict()
        return {k: d[k] for k in PHYSICS_FIELDS}


def check_compatible(trained: DFTSettings, requested: DFTSettings, what: str = "model") -> None:
    """Raise ``ValueError`` listing every physics setting that differs."""
    a, b = trained.physics_key(), requested.physics_key()
    diff = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    if diff:
        lines = ", ".join(f"{k}: {what} has {v[0]!r}, requested {v[1]!r}" for k, v in diff.items())
        raise ValueError(f"DFT settings mismatch ({lines})")
