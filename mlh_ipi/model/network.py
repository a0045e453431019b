"""``HamiltonianModel``: structure graph -> Hermitian real-space blocks H_ij(R) and H_ii(0) (Hartree).

Architecture (E(3)-equivariant, O(3) incl. reflections):

1. species one-hot -> scalar node features;
2. ``num_layers`` message-passing ``Interaction`` layers on the edges within
   ``cutoff_mp`` (Angstrom), spherical harmonics up to ``sh_lmax`` (parity (-1)^l);
   message weights go smoothly (C2) to zero over the last ``mp_switch_width``
   Angstrom, so H(R) -- and the energy and forces built from it -- are smooth
   when atoms cross the cutoff;
3. pair features for every directed edge ``(i, j, R)`` within ``cutoff_h`` from
   ``PairFeatures`` (both end nodes, the bond's harmonics and radial basis);
4. on-site blocks from the final node features plus the (enveloped) sum of the
   atom's pair features -- a direct path for two-body crystal-field and
   Madelung-like on-site terms (per-element CG head);
5. off-site blocks from the pair features (``pair_layers`` optional gated
   refinements) through per-element-pair CG heads, times a smooth envelope
   that vanishes at ``cutoff_h``;
6. exact Hermiticity: ``H_ij(R) = (B_ij(R) + B_ji(-R)^T) / 2`` and
   ``H_ii(0) = (B + B^T) / 2``.

Blocks are returned padded to ``nmax = max norb`` (zero outside ``n_i x n_j``),
in the ``OrbitalLayout``'s PySCF order. Targets are normalised as
``H = scale * raw + diag(onsite_shift[element])`` (on-site only for the shift);
``scale`` and ``onsite_shift`` are buffers saved with the weights.

Defaults (``ModelConfig``) and why
----------------------------------
* ``cutoff_h = 8.0`` A. Measured on ``tests/data/sio2_tiny`` (SZV-MOLOPT-SR, PBE):
  truncating the exact image-resolved overlap S_ij(R) at r_H changes the Gamma
  matrix by MAE 5.0e-5 / 2.1e-5 / 3.5e-6 / 4.2e-7 at r_H = 7 / 7.5 / 8 / 9 A
  (max 4.4e-3 / 1.3e-3 / 1.8e-4 / 2.8e-5). Image-resolved H(R) of the same
  cell (``mlh_ipi.dft.image_resolved``, where alias-free, 5-7 A) gives
  |H_ij(R)| / |S_ij(R)| ~ 0.6-1.0 Ha, so with 1 Ha the truncated Gamma sum misses
  ~1.4 / 0.6 / 0.1 / 0.01 meV (MAE) of H: 8 A is the smallest cutoff at the
  0.1 meV level (largest single element ~5 meV, from the most diffuse O/Si tails).
* ``cutoff_mp = 5.0`` A, ``num_layers = 3``: receptive field 15 A for the nodes.
* ``sh_lmax = 2 lmax_orbital``; hidden ``32x0e+16x1o+16x1e+8x2o+8x2e`` for SZV
  (``+4x3o+4x3e+4x4o+4x4e`` for DZVP); pair features at half those multiplicities.
  SZV: 130,672 parameters; DZVP: 271,952.
* Prediction time (1 thread, rattled quartz, shared 2-core machine): 48 atoms
  ~0.15 s; 576 atoms (99.5k pairs within 8 A) ~1.8 s CPU (2.9 s wall) for SZV,
  ~17 s CPU for DZVP.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import torch
from torch import nn

from e3nn import o3

from mlh_ipi.model.batch import GraphBatch
from mlh_ipi.model.blocks import BlockHead, block_spec
from mlh_ipi.model.layers import Interaction, PairFeatures
from mlh_ipi.model.radial import PolynomialCutoff, RadialEmbedding, SmoothSwitch
from mlh_ipi.orbitals import OrbitalLayout
from mlh_ipi.strict import from_mapping

# multiplicity of each l in the default hidden features (both parities for l > 0)
DEFAULT_MULTIPLICITY = {0: 32, 1: 16, 2: 8, 3: 4, 4: 4, 5: 2, 6: 2}


def default_hidden_irreps(lmax_orbital: int) -> str:
    """e.g. SZV (l <= 1): ``32x0e+16x1o+16x1e+8x2e+8x2o``; DZVP (l <= 2) adds l = 3, 4 (4 each)."""
    parts = [f"{DEFAULT_MULTIPLICITY[0]}x0e"]
    for l in range(1, 2 * lmax_orbital + 1):
        mul = DEFAULT_MULTIPLICITY.get(l, 2)
        natural = "e" if l % 2 == 0 else "o"
        other = "o" if natural == "e" else "e"
        parts += [f"{mul}x{l}{natural}", f"{mul}x{l}{other}"]
    return str(o3.Irreps("+".join(parts)).sort().irreps.simplify())


def default_edge_irreps(hidden_irreps: str) -> str:
    """Half the hidden multiplicities: the pair stage runs on every edge within r_H (~170 per atom
    at 8 A in a-SiO2), so it dominates prediction time; halving it halves that cost."""
    return str(o3.Irreps([(max(1, mul // 2), ir) for mul, ir in o3.Irreps(hidden_irreps)]))


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters (all primitives, stored in checkpoints). Lengths in Angstrom.

    ``hidden_irreps``/``edge_irreps``/``sh_lmax`` default (``""``/``0``) to
    values derived from the orbital layout: ``sh_lmax = 2 lmax_orbital``,
    ``default_hidden_irreps`` and ``default_edge_irreps`` (half the hidden
    multiplicities; setting ``edge_irreps = hidden_irreps`` fits ~25 % better in
    short tests at ~2x the prediction time).
    """

    cutoff_h: float = 8.0
    cutoff_mp: float = 5.0
    num_layers: int = 3
    hidden_irreps: str = ""
    edge_irreps: str = ""
    sh_lmax: int = 0
    num_basis: int = 8
    radial_hidden: int = 64
    pair_layers: int = 0
    avg_num_neighbors: float = 40.0   # set from the training data by the trainer
    avg_num_pairs: float = 170.0      # set from the training data by the trainer
    envelope_p: int = 6
    mp_switch_width: float = 1.0      # Angstrom; 0 = no switch (checkpoints before 2026-11-23)
    baseline: str = ""                # "harris": the network predicts H - H_0 (mlh_ipi.dft.harris)

    def __post_init__(self) -> None:
        from mlh_ipi.dft.harris import check_baseline

        check_baseline(self.baseline)

    def resolved(self, layout: OrbitalLayout) -> "ModelConfig":
        """Fill the layout-derived defaults."""
        hidden = self.hidden_irreps or default_hidden_irreps(layout.lmax)
        hidden = str(o3.Irreps(hidden).sort().irreps.simplify())
        edge = str(o3.Irreps(self.edge_irreps or default_edge_irreps(hidden)).sort().irreps.simplify())
        return ModelConfig(**{**asdict(self), "hidden_irreps": hidden, "edge_irreps": edge,
                              "sh_lmax": self.sh_lmax or 2 * layout.lmax})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        return from_mapping(cls, d, "model option")


class HamiltonianModel(nn.Module):
    """E(3)-equivariant real-space Hamiltonian for one ``OrbitalLayout`` (see module docstring)."""

    def __init__(self, config: ModelConfig, layout: OrbitalLayout):
        super().__init__()
        config = config.resolved(layout)
        if config.cutoff_h <= 0 or config.cutoff_mp <= 0:
            raise ValueError("cutoffs must be positive (Angstrom)")
        self.config, self.layout = config, layout
        self.elements = list(layout.elements)
        n_el = len(self.elements)
        norb = [layout.norb(s) for s in self.elements]
        self.nmax = max(norb)
        self.register_buffer("norb", torch.tensor(norb, dtype=torch.long))
        hidden = o3.Irreps(config.hidden_irreps)
        if hidden[0].ir != o3.Irrep("0e"):
            raise ValueError(f"hidden irreps must contain scalars 0e, got {hidden}")
        self.irreps_sh = o3.Irreps.spherical_harmonics(config.sh_lmax)
        n0 = hidden[0].mul
        self.embedding = nn.Linear(n_el, n0, bias=False)
        self.radial_mp = RadialEmbedding(config.cutoff_mp, config.num_basis, config.envelope_p)
        self.radial_h = RadialEmbedding(config.cutoff_h, config.num_basis, config.envelope_p)
        self.envelope_h = PolynomialCutoff(config.cutoff_h, config.envelope_p)
        self.switch_mp = SmoothSwitch(config.cutoff_mp, config.mp_switch_width)
        irreps = o3.Irreps(f"{n0}x0e")
        self.interactions = nn.ModuleList()
        for _ in range(config.num_layers):
            self.interactions.append(Interaction(irreps, hidden, self.irreps_sh, n_el, config.num_basis,
                                                 config.radial_hidden, config.avg_num_neighbors))
            irreps = hidden
        shells = layout.shells
        pair_shells = [(shells[a], shells[b]) for a in self.elements for b in self.elements]
        targets = o3.Irreps([(1, ir) for ls_a, ls_b in pair_shells
                             for _, ir in block_spec(ls_a, ls_b).irreps]).sort().irreps.simplify()
        self.pair = PairFeatures(irreps, o3.Irreps(config.edge_irreps), self.irreps_sh, targets,
                                 config.num_basis, n0, config.radial_hidden, config.pair_layers)
        # on-site blocks read the node features and the sum of the atom's pair features
        # (two-body crystal-field / Madelung-like terms sum_j f(r_ij) Y(r_ij) as a direct path)
        self.onsite_head = BlockHead([irreps, *self.pair.irreps_out],
                                     [(shells[a], shells[a]) for a in self.elements], self.nmax)
        self.offsite_head = BlockHead(self.pair.irreps_out, pair_shells, self.nmax)
        # normalisation (Hartree): H = scale * raw (+ diagonal on-site shift per orbital)
        self.register_buffer("scale", torch.tensor(1.0))
        self.register_buffer("onsite_shift", torch.zeros(n_el, self.nmax))

    # ------------------------------------------------------------------
    def set_normalisation(self, scale: float, onsite_shift) -> None:
        """``scale`` (Hartree) and the per-orbital on-site diagonal shift (n_elements, nmax), Hartree.

        The shift must be equal within each radial function (rotation invariance)
        and zero in the padding.
        """
        shift = torch.as_tensor(onsite_shift, dtype=self.onsite_shift.dtype)
        for e, el in enumerate(self.elements):
            for _, sl in self.layout.shell_slices(el):
                if not torch.allclose(shift[e, sl], shift[e, sl][0].expand(sl.stop - sl.start)):
                    raise ValueError(f"on-site shift of {el} must be constant within each shell")
            shift[e, self.layout.norb(el):] = 0.0
        self.scale.fill_(float(scale))
        self.onsite_shift.copy_(shift)

    @staticmethod
    def edge_vectors(positions, cell, edge_index, shifts, edge_graph) -> torch.Tensor:
        """``r_j + R . cell - r_i`` (Angstrom) for each edge."""
        i, j = edge_index
        lattice = torch.einsum("ek,ekl->el", shifts, cell.index_select(0, edge_graph))
        return positions.index_select(0, j) - positions.index_select(0, i) + lattice

    def forward(self, batch: GraphBatch) -> dict[str, torch.Tensor]:
        """``{"onsite": (N, nmax, nmax), "offsite": (E, nmax, nmax)}`` Hermitian blocks in Hartree."""
        n_el = len(self.elements)
        species = batch.species
        onehot = nn.functional.one_hot(species, n_el).to(batch.positions.dtype)
        h = self.embedding(onehot)

        vec = self.edge_vectors(batch.positions, batch.cell, batch.mp_edge_index, batch.mp_shifts,
                                batch.mp_graph)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        r_mp = vec.norm(dim=1)
        rbf, switch = self.radial_mp(r_mp), self.switch_mp(r_mp)
        for layer in self.interactions:
            h = layer(h, onehot, batch.mp_edge_index, sh, rbf, switch)

        vec = self.edge_vectors(batch.positions, batch.cell, batch.edge_index, batch.shifts,
                                batch.edge_graph)
        r = vec.norm(dim=1)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True, normalization="component")
        e = self.pair(h, batch.edge_index, sh, self.radial_h(r))
        i, j = batch.edge_index
        pair_type = species.index_select(0, i) * n_el + species.index_select(0, j)
        env = self.envelope_h(r)
        raw = self.offsite_head(pair_type, *e) * (self.scale * env)[:, None, None]
        offsite = 0.5 * (raw + raw.index_select(0, batch.reverse).transpose(1, 2))

        weight = (env * self.config.avg_num_pairs ** -0.5)[:, None]
        summed = [f.new_zeros((h.shape[0], f.shape[1])).index_add_(0, i, f * weight) for f in e]
        raw = self.onsite_head(species, h, *summed) * self.scale
        shift = torch.diag_embed(self.onsite_shift.index_select(0, species))
        onsite = 0.5 * (raw + raw.transpose(1, 2)) + shift
        return {"onsite": onsite, "offsite": offsite}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
