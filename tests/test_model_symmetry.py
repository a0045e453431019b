"""Symmetries of the Hamiltonian model, in float64 with tiny random models.

O(3) equivariance (rotations and reflections) of the per-edge blocks via the
layout's Wigner-D matrices, permutation equivariance, translation and
lattice-basis invariance of H^Gamma, exact Hermiticity, and locality (a 2x1x1
repetition predicts the tiled blocks).
"""
import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

import mlh_ipi.model  # noqa: F401
from mlh_ipi.data.graphs import build_graph
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.model.blocks import layout_wigner_d
from mlh_ipi.model.network import HamiltonianModel, ModelConfig
from mlh_ipi.model.predictor import HamiltonianPredictor
from mlh_ipi.orbitals import OrbitalLayout

SZV = OrbitalLayout("gth-szv-molopt-sr", {"Si": (0, 1), "O": (0, 1)})
DZVP = OrbitalLayout("gth-dzvp-molopt-sr", {"Si": (0, 0, 1, 1, 2), "O": (0, 0, 1, 1, 2)})
MIXED = OrbitalLayout("test-mixed", {"Si": (0, 1, 2), "O": (0, 0, 1), "H": (0,)})  # spd / ssp / s
SPDF = OrbitalLayout("test-spdf", {"Si": (0, 1, 2, 3), "O": (0, 1)})
TINY = dict(cutoff_h=3.6, cutoff_mp=2.8, num_layers=2, num_basis=4, radial_hidden=8)


def predictor(layout, seed=0, **kw):
    """A random float64 model (weights and e3nn constants built in float64), cached per options."""
    key = (layout.basis, seed, tuple(sorted(kw.items())))
    if key not in _CACHE:
        _CACHE[key] = _predictor(layout, seed, kw)
    return _CACHE[key]


_CACHE: dict = {}


def _predictor(layout, seed, kw):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(seed)
        lmax = layout.lmax
        hidden = "+".join(["4x0e"] + [f"{2 if l <= 2 else 1}x{l}{p}" for l in range(1, 2 * lmax + 1)
                                       for p in "eo"])
        model = HamiltonianModel(ModelConfig(**{**TINY, "hidden_irreps": hidden, **kw}), layout)
        shift = torch.zeros(len(layout.elements), model.nmax)  # non-trivial normalisation
        for e, el in enumerate(layout.elements):
            for _, sl in layout.shell_slices(el):
                shift[e, sl] = float(torch.randn(()))
        model.set_normalisation(0.3, shift)
    finally:
        torch.set_default_dtype(old)
    return HamiltonianPredictor(model, DFTSettings(), dtype=torch.float64)


def structure(symbols=("Si", "O", "O", "Si", "O", "H"), seed=0, a=4.3):
    rng = np.random.default_rng(seed)
    cell = np.array([[a, 0.2, 0.0], [0.5, 4.6, 0.1], [-0.3, 0.4, 4.1]])
    pos = rng.uniform(0, 1, size=(len(symbols), 3)) @ cell
    # keep atoms apart (> 1 A) so the test structure is sane
    for _ in range(200):
        at = Atoms(symbols, positions=pos, cell=cell, pbc=True)
        d = at.get_all_distances(mic=True) + 10 * np.eye(len(symbols))
        if d.min() > 1.0:
            break
        pos = rng.uniform(0, 1, size=(len(symbols), 3)) @ cell
    return list(symbols), pos, cell


def blocks_by_key(pred, graph):
    pairs, blocks = pred.predict(graph)
    return {tuple(p): b for p, b in zip(pairs.tolist(), blocks)}


def relerr(a, b):
    return np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("layout, improper, kw", [
    (SZV, False, {}), (SZV, True, {}), (MIXED, True, {}),
    (SPDF, True, {"sh_lmax": 2, "num_layers": 1}),  # f-f blocks need L <= 6; cheap harmonics
], ids=["szv-rotation", "szv-rotoreflection", "spd-ssp-s-rotoreflection", "spdf-rotoreflection"])
def test_o3_equivariance_of_blocks(layout, improper, kw):
    symbols = ("Si", "O", "O", "Si", "O", "H") if "H" in layout.shells else ("Si", "O", "O", "Si", "O", "O")
    pred = predictor(layout, **kw)
    sym, pos, cell = structure(symbols)
    rot = Rotation.random(random_state=7).as_matrix()
    if improper:
        rot = -rot  # inversion times rotation: det = -1
    g0 = pred.graph(sym, pos, cell)
    g1 = pred.graph(sym, pos @ rot.T, cell @ rot.T)
    b0, b1 = blocks_by_key(pred, g0), blocks_by_key(pred, g1)
    assert b0.keys() == b1.keys() and len(b0) > len(sym)
    D = {s: layout_wigner_d(layout, s, rot) for s in set(sym)}
    worst = 0.0
    for (i, j, *R), blk in b0.items():
        expected = D[sym[i]] @ blk @ D[sym[j]].T
        worst = max(worst, np.abs(b1[(i, j, *R)] - expected).max())
    scale = max(np.abs(b).max() for b in b0.values())
    assert worst / scale < 1e-5, worst / scale
    # and the structure is not trivially symmetric: blocks do change
    assert max(np.abs(b1[k] - b0[k]).max() for k in b0) / scale > 1e-3


def test_dzvp_gamma_equivariance():
    pred = predictor(DZVP, cutoff_h=3.2, num_layers=1)
    sym, pos, cell = structure(("Si", "O", "O", "Si"))
    rot = -Rotation.random(random_state=3).as_matrix()
    h0 = pred.predict_gamma(pred.graph(sym, pos, cell))
    h1 = pred.predict_gamma(pred.graph(sym, pos @ rot.T, cell @ rot.T))
    from scipy.linalg import block_diag

    D = block_diag(*[layout_wigner_d(DZVP, s, rot) for s in sym])
    assert relerr(h1, D @ h0 @ D.T) < 1e-5


def test_permutation_equivariance():
    pred = predictor(MIXED)
    sym, pos, cell = structure()
    perm = np.array([3, 5, 0, 4, 1, 2])
    g0 = pred.graph(sym, pos, cell)
    g1 = pred.graph([sym[p] for p in perm], pos[perm], cell)
    b0, b1 = blocks_by_key(pred, g0), blocks_by_key(pred, g1)
    inv = np.argsort(perm)  # new index of old atom
    for (i, j, *R), blk in b0.items():
        np.testing.assert_allclose(b1[(inv[i], inv[j], *R)], blk, rtol=0, atol=1e-10)
    # Gamma: AO blocks permuted
    h0, h1 = pred.predict_gamma(g0), pred.predict_gamma(g1)
    off0 = MIXED.atom_offsets(sym)
    ao_perm = np.concatenate([np.arange(off0[p], off0[p + 1]) for p in perm])
    np.testing.assert_allclose(h1, h0[np.ix_(ao_perm, ao_perm)], rtol=0, atol=1e-10)


def test_translation_and_lattice_basis_invariance():
    pred = predictor(MIXED)
    sym, pos, cell = structure()
    h0 = pred.predict_gamma(pred.graph(sym, pos, cell))
    # rigid translation (atoms leave the cell: no wrapping needed)
    h1 = pred.predict_gamma(pred.graph(sym, pos + np.array([0.7, -1.3, 2.9]), cell))
    assert relerr(h1, h0) < 1e-10
    # an equivalent lattice basis (unimodular integer change) and wrapped positions
    M = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    assert round(abs(np.linalg.det(M))) == 1
    at = Atoms(sym, positions=pos, cell=M @ cell, pbc=True)
    at.wrap()
    h2 = pred.predict_gamma(pred.graph(sym, at.positions, at.cell.array))
    assert relerr(h2, h0) < 1e-10


def test_hermiticity_is_exact():
    pred = predictor(MIXED)
    sym, pos, cell = structure(a=3.3)  # shorter than r_H: self-images (i, i, R != 0)
    g = pred.graph(sym, pos, cell)
    b = blocks_by_key(pred, g)
    assert any(i == j and any(R) for i, j, *R in b), "self-images (i, i, R != 0) expected"
    for (i, j, *R), blk in b.items():
        assert np.array_equal(blk, b[(j, i, *(-np.array(R)))].T)
    h = pred.predict_gamma(g)
    assert np.array_equal(h, h.T)
    assert h.dtype == np.float64 and h.shape == (g.nao, g.nao)


def test_repetition_predicts_tiled_blocks():
    pred = predictor(MIXED)
    sym, pos, cell = structure()
    n = len(sym)
    g0 = pred.graph(sym, pos, cell)
    at = Atoms(sym, positions=pos, cell=cell, pbc=True).repeat((2, 1, 1))
    g1 = pred.graph(at.get_chemical_symbols(), at.positions, at.cell.array)
    p0, b0 = pred.predict(g0)
    p1, b1 = pred.predict(g1)

    def key(i, j, R, positions, c):
        v = positions[j] + np.asarray(R) @ c - positions[i]
        return (i % n, j % n, *np.round(v, 6))

    ref = {key(i, j, R, pos, cell): blk for (i, j, *R), blk in zip(p0.tolist(), b0)}
    assert len(p1) == 2 * len(p0)
    scale = max(np.abs(b).max() for b in b0)
    for (i, j, *R), blk in zip(p1.tolist(), b1):
        k = key(i, j, R, at.positions, at.cell.array)
        assert np.abs(blk - ref[k]).max() < 1e-9 * scale


def test_graph_reverse_edges_and_cutoffs():
    sym, pos, cell = structure()
    g = build_graph(sym, pos, cell, MIXED, cutoff_h=3.6, cutoff_mp=2.8)
    i, j = g.edge_index
    rev = g.reverse
    assert np.array_equal(i[rev], j) and np.array_equal(j[rev], i)
    assert np.array_equal(g.shifts[rev], -g.shifts)
    assert np.array_equal(rev[rev], np.arange(g.num_edges))
    d = np.linalg.norm(g.edge_vectors_a, axis=1)
    assert d.max() < 3.6 and d.min() > 0
    assert not np.any((i == j) & ~g.shifts.any(axis=1))
    mp_d = np.linalg.norm(pos[g.mp_edge_index[1]] + g.mp_shifts @ cell - pos[g.mp_edge_index[0]], axis=1)
    assert mp_d.max() < 2.8
    assert np.array_equal(g.atom_offsets, MIXED.atom_offsets(sym))


def test_prediction_is_continuous_when_an_atom_crosses_the_message_cutoff():
    """An atom entering cutoff_mp changes H by O(distance), not by a jump (the message switch)."""
    from mlh_ipi.model.batch import collate
    from mlh_ipi.model.gamma import gamma_flat

    layout = SZV
    torch.manual_seed(0)

    def gamma(model, d):
        pos = np.array([[0.0, 0.0, 0.0], [1.6, 0.0, 0.0], [0.0, d, 0.0]])
        g = build_graph(["Si", "O", "O"], pos, np.eye(3) * 20.0, layout, 6.0, 3.0)
        batch = collate([g], torch.float64, with_targets=False)
        out = model(batch)
        return gamma_flat(batch, out["onsite"], out["offsite"], model.norb).detach().numpy()

    smooth = HamiltonianModel(ModelConfig(cutoff_h=6.0, cutoff_mp=3.0, num_layers=2, num_basis=4,
                                          radial_hidden=8, hidden_irreps="4x0e+2x1o+2x1e"), layout).double()
    legacy = HamiltonianModel(ModelConfig(cutoff_h=6.0, cutoff_mp=3.0, num_layers=2, num_basis=4,
                                          radial_hidden=8, hidden_irreps="4x0e+2x1o+2x1e",
                                          mp_switch_width=0.0), layout).double()
    legacy.load_state_dict(smooth.state_dict())
    eps = 1e-6
    jump = np.abs(gamma(smooth, 3.0 - eps) - gamma(smooth, 3.0 + eps)).max()
    legacy_jump = np.abs(gamma(legacy, 3.0 - eps) - gamma(legacy, 3.0 + eps)).max()
    # smooth: the change is the ordinary first-order one, dH/dd * 2 eps (|dH/dd| ~ 0.1 Ha/A)
    assert jump < 1e-6, jump
    assert legacy_jump > 100 * jump, (legacy_jump, jump)  # what the switch removes
