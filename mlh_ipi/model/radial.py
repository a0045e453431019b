"""Radial basis with a smooth cutoff, and the small MLPs that turn it into tensor-product weights.

Distances are in Angstrom throughout.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class BesselBasis(nn.Module):
    """``sqrt(2/r_c) sin(n pi r / r_c) / r`` for ``n = 1..num_basis`` (r, r_c in Angstrom)."""

    def __init__(self, r_cut: float, num_basis: int = 8):
        super().__init__()
        self.r_cut = float(r_cut)
        self.register_buffer("freq", math.pi / self.r_cut * torch.arange(1, num_basis + 1,
                                                                        dtype=torch.float64))
        self.prefactor = math.sqrt(2.0 / self.r_cut)

    def forward(self, r: torch.Tensor) -> torch.Tensor:  # (E,) -> (E, num_basis)
        r = r.unsqueeze(-1)
        return self.prefactor * torch.sin(self.freq.to(r.dtype) * r) / r


class PolynomialCutoff(nn.Module):
    """Smooth envelope ``u(r/r_c)`` (NequIP's p-polynomial): 1 at 0, zero with p-1 derivatives at r_c."""

    def __init__(self, r_cut: float, p: int = 6):
        super().__init__()
        self.r_cut = float(r_cut)
        self.p = float(p)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        x = r / self.r_cut
        p = self.p
        env = (1.0 - (p + 1.0) * (p + 2.0) / 2.0 * x**p + p * (p + 2.0) * x ** (p + 1.0)
               - p * (p + 1.0) / 2.0 * x ** (p + 2.0))
        return env * (x < 1.0).to(r.dtype)


class SmoothSwitch(nn.Module):
    """1 below ``r_c - width``, 0 beyond ``r_c``, quintic smoothstep between (C2): Angstrom.

    Multiplies the message weights of the interaction layers. Their radial MLP
    has hidden biases, so it is not zero at zero radial input: without the
    switch an atom entering ``cutoff_mp`` would change every feature by a jump.
    ``width = 0`` disables it (checkpoints written before the switch existed).
    """

    def __init__(self, r_cut: float, width: float):
        super().__init__()
        if width < 0 or width > r_cut:
            raise ValueError(f"switch width must be in [0, r_cut={r_cut}] Angstrom, got {width}")
        self.r_cut, self.width = float(r_cut), float(width)

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        if self.width == 0.0:
            return torch.ones_like(r)
        t = ((r - (self.r_cut - self.width)) / self.width).clamp(0.0, 1.0)
        return 1.0 - t**3 * (10.0 - 15.0 * t + 6.0 * t**2)


class RadialEmbedding(nn.Module):
    """Bessel basis times the smooth cutoff: (E,) distances -> (E, num_basis) invariants."""

    def __init__(self, r_cut: float, num_basis: int = 8, p: int = 6):
        super().__init__()
        self.basis = BesselBasis(r_cut, num_basis)
        self.cutoff = PolynomialCutoff(r_cut, p)
        self.num_basis = num_basis

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        return self.basis(r) * self.cutoff(r).unsqueeze(-1)


class MLP(nn.Module):
    """Invariant MLP (SiLU); its last layer has no bias so zero input features give zero weights."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = k == len(sizes) - 2
            layers.append(nn.Linear(a, b, bias=not last))
            if not last:
                layers.append(nn.SiLU())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
