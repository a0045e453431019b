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


def normalize_species_spec(value: str | Mapping[str, str], what: str) -> str:
    """Canonical text of a basis or pseudopotential choice, whole-cell or per element.

    ``"gth-pbe"`` applies one family to every element. ``"gth-pbe,Ga=gth-pbe-q3"`` (or the
    mapping ``{"*": "gth-pbe", "Ga": "gth-pbe-q3"}``) sets a default plus per-element
    overrides; without a default every element must be listed. The canonical form puts
    the default first and the overrides in alphabetical order, so equal choices compare
    equal in checkpoints and label files.
    """
    if isinstance(value, Mapping):
        items = {str(k).strip(): str(v).strip() for k, v in value.items()}
    elif isinstance(value, str):
        items = {}
        for part in value.split(","):
            part = part.strip()
            if not part:
                raise ValueError(f"empty entry in {what} {value!r}")
            key, sep, name = part.partition("=")
            key, name = (key.strip(), name.strip()) if sep else ("*", key.strip())
            if key in items:
                raise ValueError(f"{what} {value!r} names {key!r} twice")
            items[key] = name
    else:
        raise ValueError(f"{what} must be a name or an element->name mapping, got {value!r}")
    if any(not k or not v or "=" in v for k, v in items.items()):
        raise ValueError(f"malformed {what} {value!r}: use 'family' or 'family,El=name,...'")
    parts = [items.pop("*")] if "*" in items else []
    return ",".join(parts + [f"{k}={items[k]}" for k in sorted(items)])


def species_choice(spec: str, symbol: str, what: str = "basis/pseudopotential") -> str:
    """The name ``spec`` (canonical, see :func:`normalize_species_spec`) gives ``symbol``."""
    default = None
    for part in spec.split(","):
        key, sep, name = part.partition("=")
        if not sep:
            default = key
        elif key == symbol:
            return name
    if default is None:
        raise ValueError(f"{what} {spec!r} has no entry for element {symbol} and no default")
    return default

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
    pseudo : GTH pseudopotential family, default ``gth-pbe``, or per element:
        ``"gth-pbe,Ga=gth-pbe-q3"`` (a default plus overrides; a mapping is accepted
        and stored in this text form). PySCF's ``gth-pbe`` gives Ga its 13-electron
        (3d semicore) potential, which needs >= 400 Ha; ``Ga=gth-pbe-q3`` puts 3d in
        the core and is converged at 60 Ha (BENCHMARKS.md section 1c).
    basis : Gaussian basis, one name or per element like ``pseudo``;
        ``gth-szv-molopt-sr`` (default) or ``gth-dzvp-molopt-sr`` for semicore
        potentials, ``gth-szv`` (GTH-SZV, s+p, Ga s+p+d) for the q3/q5 GaAs setup.
        Any basis PySCF knows is accepted.
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
        object.__setattr__(self, "pseudo", normalize_species_spec(self.pseudo, "pseudo"))
        object.__setattr__(self, "basis", normalize_species_spec(self.basis, "basis"))
        if len(self.kmesh) != 3 or min(self.kmesh) < 1:
            raise ValueError(f"kmesh must be three positive integers, got {self.kmesh}")
        if self.ke_cutoff <= 0:
            raise ValueError(f"ke_cutoff must be positive (Hartree), got {self.ke_cutoff}")
        if self.smearing is not None and self.smearing <= 0:
            raise ValueError(f"smearing must be a positive width in eV or None, got {self.smearing}")

    @property
    def is_gamma(self) -> bool:
        return self.kmesh == (1, 1, 1)

    def pseudo_for(self, symbol: str) -> str:
        """The pseudopotential name of element ``symbol``."""
        return species_choice(self.pseudo, symbol, "pseudo")

    def basis_for(self, symbol: str) -> str:
        """The basis-set name of element ``symbol``."""
        return species_choice(self.basis, symbol, "basis")

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
