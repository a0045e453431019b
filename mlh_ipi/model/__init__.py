"""Equivariant Hamiltonian model (e3nn 0.4.4, the version mace-torch pins).

e3nn 0.4.4 loads its constants with ``torch.load`` which, since torch 2.6,
defaults to ``weights_only=True`` and rejects the pickled ``slice`` objects in
that file. Allow-listing ``slice`` (instead of switching weights-only loading
off globally, as mace does) makes ``import e3nn.o3`` work.
"""
import torch

torch.serialization.add_safe_globals([slice])
