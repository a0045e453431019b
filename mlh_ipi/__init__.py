"""mlh-ipi: machine-learned DFT Hamiltonians for point defects.

Data flow (each subpackage imports only from those to its left)::

    structures -> dft (labels) -> data -> model -> electronic (H -> bands, density)
               -> energy (density -> E, F) -> calculator / ipi / lammps / stream

Units: eV and Angstrom at every public boundary (ASE convention); Hartree and
Bohr inside ``dft``/``energy`` where PySCF works; atomic units on the i-PI socket.
"""

__version__ = "0.1.0"
