"""Atomic structures in, nothing else: the left end of the data flow.

- :mod:`.analysis`  coordination, partial RDFs, bond angles, a-SiO2 report (numpy + ASE)
- :mod:`.sio2`      oxygen vacancies in SiO2 cells
- :mod:`.gaas`      zincblende GaAs supercells (64/128/216) and V_Ga, V_As, Ga_i, As_i, As_Ga
- :mod:`.rattle`    Gaussian and Einstein-model thermal snapshots

Amorphous SiO2 hosts come from a LAMMPS melt-quench, :mod:`mlh_ipi.lammps.melt_quench`
(LAMMPS is imported only under ``mlh_ipi.lammps``). Lengths in Angstrom.
"""
