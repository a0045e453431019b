"""MACE force fields trained on mlh-ipi DFT labels (mace-torch does the training and inference).

- :mod:`.export`         ``.label.npz`` -> extxyz with ``REF_energy`` (eV) / ``REF_forces`` (eV/Å)
- :mod:`.mace_training`  ``mace_run_train`` argument list, resumable subprocess runs, committees
- :mod:`.committee`      ``load_mace``: one model or a committee as an ASE calculator, species checks
- :mod:`.deviation`      committee force/energy deviations and the selection rule
- :mod:`.errors`         energy/force errors against labels

Imports only from ``structures``, ``dft`` and ``data`` (plus mace-torch, ASE, torch).
Submodules are imported explicitly; this file stays import-light.
"""
