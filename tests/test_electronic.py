"""Electronic structure from H: k-space assembly, eigenproblem, band edges, defect levels."""
import numpy as np
import pytest

from mlh_ipi.electronic.defect_levels import atom_weights, find_defect_levels
from mlh_ipi.electronic.eigen import (density_matrix, energy_weighted_density_matrix,
                                      insulator_occupations, solve)
from mlh_ipi.electronic.kspace import assemble
from mlh_ipi.units import HARTREE


def _tight_binding_chain(n=40, gap=0.2, hop=0.05, impurity=None, impurity_onsite=0.0):
    """One s orbital per site, alternating on-site +-gap/2 (a two-band insulator); periodic ring.

    Pairs are (i, j, R) with R along x for the bond that crosses the cell boundary.
    """
    pairs, blocks = [], []
    for i in range(n):
        onsite = gap / 2 if i % 2 else -gap / 2
        if impurity is not None and i == impurity:
            onsite = impurity_onsite
        pairs.append((i, i, 0, 0, 0)); blocks.append(np.array([[onsite]]))
        j, R = (i + 1) % n, (1 if i == n - 1 else 0)
        pairs.append((i, j, R, 0, 0)); blocks.append(np.array([[-hop]]))
        pairs.append((j, i, -R, 0, 0)); blocks.append(np.array([[-hop]]))
    return np.array(pairs), blocks, np.arange(n + 1)


def test_assemble_gamma_and_k_are_hermitian_and_consistent():
    pairs, blocks, off = _tight_binding_chain(n=10)
    hg = assemble(pairs, blocks, off)
    assert hg.dtype == float and np.allclose(hg, hg.T)
    hk = assemble(pairs, blocks, off, np.array([0.3, 0, 0]))
    assert np.allclose(hk, hk.conj().T)
    # the boundary bond carries the Bloch phase
    assert np.isclose(hk[9, 0], -0.05 * np.exp(2j * np.pi * 0.3))


def test_density_matrices_are_consistent_with_eigenproblem():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8)); h = a + a.T
    b = rng.normal(size=(8, 8)) * 0.1; s = np.eye(8) + b @ b.T
    e, c = solve(h, s)
    occ = insulator_occupations(8, 6)
    d = density_matrix(c, occ)
    assert np.isclose(np.trace(d @ s), 6.0)                 # electron count
    w = energy_weighted_density_matrix(c, e, occ)
    assert np.isclose(np.trace(w @ s), 2 * e[:3].sum())     # band energy
    assert np.allclose(d @ s @ d, 2 * d)                    # idempotency (2 e per state)


def test_solve_rejects_singular_overlap_and_nan():
    with pytest.raises(ValueError, match="positive definite"):
        solve(np.eye(2), np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        solve(np.array([[np.nan, 0], [0, 1.0]]), np.eye(2))


def test_odd_electron_count_needs_smearing():
    with pytest.raises(ValueError, match="odd"):
        insulator_occupations(4, 3)


def test_defect_level_picks_the_localised_in_gap_state():
    """An impurity with mid-gap on-site energy binds one localised state inside the host gap."""
    n, imp = 40, 17
    pairs, blocks, off = _tight_binding_chain(n=n, impurity=imp, impurity_onsite=0.02)
    h = assemble(pairs, blocks, off)
    s = np.eye(n)
    e, c = solve(h, s)
    nelec = n  # the host valence band holds n/2 states; the impurity level (mid-gap) is empty
    pristine = assemble(*_tight_binding_chain(n=n)[:2], off)
    ep = np.linalg.eigvalsh(pristine)
    host_vbm, host_cbm = ep[n // 2 - 1], ep[n // 2]
    res = find_defect_levels(e, c, s, off, nelec, defect_atoms=[imp - 1, imp, imp + 1])
    assert len(res.levels_ev) == 1
    level = res.levels_ev[0] / HARTREE
    assert host_vbm < level < host_cbm
    k = res.state_indices[0]
    assert atom_weights(c[:, [k]], s, off)[0, imp - 1:imp + 2].sum() > 0.5
    # edges are host-like: close to the pristine chain's edges, not the impurity level
    assert abs(res.vbm_ev / HARTREE - host_vbm) < 5e-3 and abs(res.cbm_ev / HARTREE - host_cbm) < 5e-3
    assert res.gap_ev > 0 and np.all(res.above_vbm_ev > 0) and np.all(res.below_cbm_ev > 0)
    # without the defect atoms, the IPR criterion finds the same state
    res2 = find_defect_levels(e, c, s, off, nelec)
    assert list(res2.state_indices) == list(res.state_indices)


def test_valence_count_puts_the_edges_right_for_a_donor_level_above_the_cbm():
    """A donor whose level lies above the conduction band (its two electrons fill the CBM state):
    occupation calls that CBM state the VBM and reports the CB1-CB2 spacing as the gap; counting
    the host's n/2 valence states gives the pristine gap, and ``resonance_ev`` reports the level
    above the CBM, flagged resonant."""
    n, imp = 40, 17
    pairs, blocks, off = _tight_binding_chain(n=n, impurity=imp, impurity_onsite=0.3)
    h = assemble(pairs, blocks, off)
    e, c = solve(h, np.eye(n))
    ep = np.linalg.eigvalsh(assemble(*_tight_binding_chain(n=n)[:2], off))
    host_gap_ev = (ep[n // 2] - ep[n // 2 - 1]) * HARTREE
    defect = [imp - 1, imp, imp + 1]
    by_occupation = find_defect_levels(e, c, np.eye(n), off, n + 2, defect_atoms=defect)
    assert by_occupation.vbm_index == n // 2 and by_occupation.gap_ev < 0.2 * host_gap_ev
    by_count = find_defect_levels(e, c, np.eye(n), off, n + 2, defect_atoms=defect, valence_states=n // 2)
    assert (by_count.vbm_index, by_count.cbm_index) == (n // 2 - 1, n // 2)
    assert by_count.gap_ev == pytest.approx(host_gap_ev, rel=0.05)
    assert len(by_count.levels_ev) == 0 and len(by_count.resonant) == 0
    wide = find_defect_levels(e, c, np.eye(n), off, n + 2, defect_atoms=defect, valence_states=n // 2,
                              resonance_ev=10.0)
    assert list(wide.state_indices) == [n - 1] and list(wide.resonant) == [True]
    assert wide.levels_ev[0] == pytest.approx(e[-1] * HARTREE) and wide.below_cbm_ev[0] < 0
    # without a count, the default is unchanged and a count far from the Fermi level is an error
    assert find_defect_levels(e, c, np.eye(n), off, n + 2, defect_atoms=defect,
                              valence_states=n // 2 + 1).vbm_index == by_occupation.vbm_index
    with pytest.raises(ValueError, match="valence_states"):
        find_defect_levels(e, c, np.eye(n), off, n + 2, valence_states=0)
    with pytest.raises(ValueError, match="from the Fermi level"):
        find_defect_levels(e, c, np.eye(n), off, n + 2, valence_states=n // 2, window=1)


def test_no_defect_level_in_pristine_host():
    pairs, blocks, off = _tight_binding_chain(n=40)
    h = assemble(pairs, blocks, off)
    e, c = solve(h, np.eye(40))
    res = find_defect_levels(e, c, np.eye(40), off, 40)
    assert len(res.levels_ev) == 0
    assert np.isclose(res.gap_ev / HARTREE, e[20] - e[19])


def test_matched_errors_read_the_predicted_eigenvalues_of_the_states_dft_classifies():
    """A prediction with DFT's eigenvalues but the impurity state spread over the whole chain:
    classifying its own states, it finds no level and a 'gap' from VBM to the impurity level;
    read at DFT's state indices, gap and level errors are zero."""
    from mlh_ipi.electronic.compare import compare_hamiltonians

    n, imp = 40, 17
    pairs, blocks, off = _tight_binding_chain(n=n, impurity=imp, impurity_onsite=0.02)
    h_dft = assemble(pairs, blocks, off)
    e, c = np.linalg.eigh(h_dft)
    k = find_defect_levels(e, c, np.eye(n), off, n, defect_atoms=[imp - 1, imp, imp + 1]).state_indices[0]
    # same spectrum; the impurity state rotated into the delocalised CBM state above it
    c_pred = c.copy()
    a, b = c[:, k].copy(), c[:, k + 1].copy()
    c_pred[:, k], c_pred[:, k + 1] = (a + b) / np.sqrt(2), (a - b) / np.sqrt(2)
    h_pred = c_pred @ np.diag(e) @ c_pred.T
    err = compare_hamiltonians(h_pred, h_dft, np.eye(n), off, n, defect_atoms=[imp - 1, imp, imp + 1])
    assert err.eigenvalue_mae_mev == pytest.approx(0.0, abs=1e-6)
    assert abs(err.gap_error_mev) > 10.0 and err.defect_level_error_mev is None  # own classification differs
    assert err.gap_error_matched_mev == pytest.approx(0.0, abs=1e-6)
    assert err.defect_level_error_matched_mev == pytest.approx(0.0, abs=1e-6)
    # a uniform error of the level alone shows up in the matched level error, not the matched gap
    shift = 0.01  # Hartree
    h_moved = h_dft + shift * np.outer(c[:, k], c[:, k])
    moved = compare_hamiltonians(h_moved, h_dft, np.eye(n), off, n, defect_atoms=[imp - 1, imp, imp + 1])
    assert moved.gap_error_matched_mev == pytest.approx(0.0, abs=1e-6)
    assert moved.defect_level_error_matched_mev == pytest.approx(shift * HARTREE * 1000, rel=1e-6)


def test_uniform_shift_counts_in_the_eigenvalue_mae_but_not_in_its_aligned_form():
    """H_DFT + c S: every eigenvalue is off by c (the plain eigenvalue MAE says c), while the
    eigenvalue MAE after removing the best uniform shift, the gap and the H MAE without it are zero."""
    from mlh_ipi.electronic.compare import compare_hamiltonians

    n, imp = 40, 17
    pairs, blocks, off = _tight_binding_chain(n=n, impurity=imp, impurity_onsite=0.02)
    h_dft = assemble(pairs, blocks, off)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, n)) * 0.02
    s = np.eye(n) + 0.5 * (a + a.T) * (np.abs(np.subtract.outer(np.arange(n), np.arange(n))) == 1)
    c = 0.004  # Hartree
    err = compare_hamiltonians(h_dft + c * s, h_dft, s, off, n, defect_atoms=[imp - 1, imp, imp + 1])
    assert err.eigenvalue_mae_mev == pytest.approx(c * HARTREE * 1000, rel=1e-8)
    assert err.eigenvalue_mae_shift_aligned_mev == pytest.approx(0.0, abs=1e-8)
    assert err.gap_error_mev == pytest.approx(0.0, abs=1e-8)
    # a real error on top: the aligned MAE sees it, without the shift
    bump = np.zeros((n, n))
    bump[imp, imp] = 0.002
    both = compare_hamiltonians(h_dft + c * s + bump, h_dft, s, off, n, defect_atoms=[imp - 1, imp, imp + 1])
    alone = compare_hamiltonians(h_dft + bump, h_dft, s, off, n, defect_atoms=[imp - 1, imp, imp + 1])
    assert 0.0 < both.eigenvalue_mae_shift_aligned_mev == pytest.approx(alone.eigenvalue_mae_shift_aligned_mev,
                                                                          rel=1e-8)



def test_band_structure_of_a_two_site_chain_is_the_analytic_dimer_band():
    """Two s sites per cell, bonded along y (on-site -+Delta/2, intra- and inter-cell hopping t1, t2,
    S = 1): E(k) = +-sqrt(Delta^2/4 + t1^2 + t2^2 + 2 t1 t2 cos(2 pi k_y)) along Gamma-X of a cubic
    cell (ASE's X = (0, 1/2, 0)); the path's Gamma point is the Gamma matrix's spectrum."""
    from mlh_ipi.electronic.bands import band_structure

    delta, t1, t2 = 0.2, 0.05, 0.03  # Hartree
    pairs = np.array([(0, 0, 0, 0, 0), (1, 1, 0, 0, 0), (0, 1, 0, 0, 0), (1, 0, 0, 0, 0),
                      (1, 0, 0, 1, 0), (0, 1, 0, -1, 0)])
    blocks = [np.array([[-delta / 2]]), np.array([[delta / 2]])] + [np.array([[-t1]])] * 2 \
        + [np.array([[-t2]])] * 2
    off = np.arange(3)
    bs = band_structure(np.eye(3) * 4.0, pairs, blocks, pairs[:2], [np.eye(1)] * 2, off, nelectron=2,
                        path="GX", npoints=25)
    assert bs.special_labels == ["G", "X"] and len(bs.x) == 25
    np.testing.assert_allclose(bs.kpts_frac[-1], [0, 0.5, 0])
    analytic = np.sqrt(delta ** 2 / 4 + t1 ** 2 + t2 ** 2
                       + 2 * t1 * t2 * np.cos(2 * np.pi * bs.kpts_frac[:, 1])) * HARTREE
    np.testing.assert_allclose(bs.energies_ev[:, 1], analytic, rtol=1e-12)
    np.testing.assert_allclose(bs.energies_ev[:, 0], -analytic, rtol=1e-12)
    np.testing.assert_allclose(bs.energies_ev[0], np.linalg.eigvalsh(assemble(pairs, blocks, off)) * HARTREE,
                               atol=1e-12)
    # one filled band: the gap is direct at X, where the two hoppings cancel most
    edges = bs.edges()
    gap_x = 2 * np.sqrt(delta ** 2 / 4 + (t1 - t2) ** 2) * HARTREE
    assert edges.gap_ev == pytest.approx(gap_x, rel=1e-12) and edges.vbm_ev == pytest.approx(-gap_x / 2)
