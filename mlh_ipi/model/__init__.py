"""Equivariant Hamiltonian model (e3nn 0.4.4, the version mace-torch pins).

e3nn 0.4.4 loads its constants with ``torch.load`` which, since torch 2.6,
defaults to ``weights_only=True`` and rejects the pickled ``slice`` objects in
that file. Allow-listing ``slice`` (instead of switching weights-only loading
off globally, as mace does) makes ``import e3nn.o3`` work.

Modules (data flow top to bottom)::

    real_harmonics  e3nn <-> PySCF real spherical harmonics (Q_l)
    blocks          Clebsch-Gordan maps features -> orbital blocks (from the OrbitalLayout)
    radial          Bessel basis, smooth cutoff, MLPs
    layers          message-passing Interaction, PairFeatures
    network         HamiltonianModel, ModelConfig (defaults and their justification)
    batch, gamma    graphs -> tensors; H^Gamma = sum_R H(R)
    normalisation   per-element on-site shift and global scale (Hartree)
    checkpoint      weights-only checkpoints, layout/DFT-settings checks
    predictor       HamiltonianPredictor: predict(graph) -> (pairs, blocks), predict_gamma
    committee       Committee: mean and spread over members
    training        Trainer, TrainConfig (``mlh-ipi train-h``), committee training
"""
import torch

torch.serialization.add_safe_globals([slice])

import warnings

# e3nn 0.4.4 compiles its helpers with torch.jit.script, which torch 2.13 deprecates and
# annotates with a UserWarning per module; neither affects results.
warnings.filterwarnings("ignore", message="The TorchScript type system doesn't support",
                        category=UserWarning)
warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=DeprecationWarning)
