"""Multi-step workflows that combine the layers to their left (DFT labelling, training, MD).

One module per workflow, e.g. :mod:`.al_mace` (committee active learning of a
MACE force field, ``mlh-ipi al-mace``). Submodules are imported explicitly.
"""
