"""Unit conversions, taken once from ASE so every module agrees.

``HARTREE`` is eV per Hartree, ``BOHR`` is Angstrom per Bohr.
"""
from ase.units import Bohr as BOHR, Hartree as HARTREE

HARTREE_PER_BOHR = HARTREE / BOHR  # eV/Angstrom per Hartree/Bohr

__all__ = ["BOHR", "HARTREE", "HARTREE_PER_BOHR"]
