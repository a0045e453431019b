"""E_KS[D] from a Hamiltonian: exactness at the DFT Hamiltonian, variational behaviour."""
import numpy as np
import pytest
from ase.spacegroup import crystal

from mlh_ipi.dft.scf import run_scf
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.energy.functional import KohnShamFunctional
from mlh_ipi.units import HARTREE, HARTREE_PER_BOHR

SETTINGS = DFTSettings(ke_cutoff=60.0, precision=1e-8, conv_tol=1e-11)


def quartz(rattle=0.04, seed=0):
    at = crystal(["Si", "O"], basis=[(0.4697, 0, 1 / 3), (0.4135, 0.2669, 0.2142)], spacegroup=152,
                 cellpar=[4.916, 4.916, 5.405, 90, 90, 120])
    at.positions += np.random.default_rng(seed).normal(0, rattle, at.positions.shape)
    return at


@pytest.fixture(scope="module")
def scf():
    return run_scf(quartz(), SETTINGS)


@pytest.fixture(scope="module")
def functional(scf):
    return KohnShamFunctional(scf.atoms, SETTINGS)


@pytest.mark.parametrize("force_mode", ["consistent", "hellmann_feynman"])
def test_dft_hamiltonian_reproduces_scf_energy_and_forces(scf, functional, force_mode):
    """Feeding the converged DFT H: E to 1e-6 Ha, forces to 1e-4 Ha/Bohr (no SCF iterations)."""
    res = functional.evaluate(scf.fock, force_mode=force_mode)
    assert abs(res.energy_ev / HARTREE - scf.energy_ha) < 1e-6
    f_ref = scf.forces_ev_per_a() / HARTREE_PER_BOHR
    assert np.abs(res.forces_ev_per_a / HARTREE_PER_BOHR - f_ref).max() < 1e-4
    assert np.abs(f_ref).max() > 1e-2  # the rattled cell has real forces to reproduce
    assert res.free_energy_ev == res.energy_ev  # no smearing
    if force_mode == "consistent":  # at SCF, F[D] = H: no occupied-empty coupling left
        assert res.max_ov_coupling_ev < 1e-4


def _noisy(fock, amplitude=3e-3, seed=1):
    x = np.random.default_rng(seed).normal(size=fock.shape)
    return fock + amplitude * (x + x.T)


def _fd_forces(atoms, settings, h, components, step=2e-3):
    """-dE/dR (eV/A) by central differences at a fixed AO Hamiltonian ``h`` (free energy with smearing)."""
    out = []
    for i, k in components:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, k] += sign * step
            e.append(KohnShamFunctional(moved, settings).evaluate(h, forces=False).free_energy_ev)
        out.append(-(e[0] - e[1]) / (2 * step))
    return np.array(out)


@pytest.mark.parametrize("smearing_ev", [None, 1.5])
def test_consistent_forces_are_minus_the_gradient_of_the_served_energy(scf, smearing_ev):
    """Off the SCF point (H = H_DFT + ~0.1 eV noise, held fixed) the consistent forces equal
    -dE/dR by finite differences to 5 meV/A -- with Fermi-Dirac smearing, of the free energy --
    while the Hellmann-Feynman expression misses the dropped Tr[(F - H) dD/dR] by > 0.2 eV/A."""
    from dataclasses import replace

    settings = replace(SETTINGS, smearing=smearing_ev)
    h = _noisy(scf.fock)
    components = [(0, 0), (5, 1)] if smearing_ev is None else [(5, 1)]
    fd = _fd_forces(scf.atoms, settings, h, components)
    cons = KohnShamFunctional(scf.atoms, settings).evaluate(h).forces_ev_per_a
    hf = KohnShamFunctional(scf.atoms, settings).evaluate(h, force_mode="hellmann_feynman").forces_ev_per_a
    pick = np.array([cons[i, k] for i, k in components])
    assert np.abs(pick - fd).max() < 5e-3, (pick, fd)
    assert np.abs(np.array([hf[i, k] for i, k in components]) - fd).max() > 0.2


@pytest.mark.parametrize("smearing_ev", [None, 1.5])
def test_density_response_is_the_derivative_with_respect_to_h_and_s(scf, functional, smearing_ev):
    """dE/dH = G and dE/dS = -W_eff against central differences in random symmetric directions."""
    from dataclasses import replace

    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.occupations import occupations
    from mlh_ipi.energy.response import density_response

    settings = replace(SETTINGS, smearing=smearing_ev)
    s0, n = functional.overlap, functional.nelectron

    def energy(h, s):
        e, c = solve(h, s)
        occ = occupations(e, n, settings.smearing)
        return functional.energy_ha(density_matrix(c, occ.occ)) + occ.minus_ts_ha

    h = _noisy(scf.fock)
    e, c = solve(h, s0)
    occ = occupations(e, n, settings.smearing)
    _, fock = functional.energy_and_fock(density_matrix(c, occ.occ))
    resp = density_response(e, c, occ, fock)
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(2, *h.shape))
    x, y = x + x.T, 1e-2 * (y + y.T)
    t = 2e-5
    de_dh = (energy(h + t * x, s0) - energy(h - t * x, s0)) / (2 * t)
    de_ds = (energy(h, s0 + t * y) - energy(h, s0 - t * y)) / (2 * t)
    assert de_dh == pytest.approx(np.sum(resp.g * x), rel=1e-4)
    assert de_ds == pytest.approx(-np.sum(resp.w_eff * y), rel=1e-4)


def test_unknown_force_mode_is_rejected(functional, scf):
    with pytest.raises(ValueError, match="force_mode"):
        functional.evaluate(scf.fock, force_mode="exactish")


def test_energy_is_variational_and_quadratic_in_hamiltonian_noise(scf, functional):
    """Random Hermitian noise on H raises E_KS[D] above E_SCF, quadratically in its amplitude."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=scf.fock.shape)
    x = (x + x.T) / 2
    amps = np.array([2e-4, 5e-4, 1e-3, 2e-3])
    rises = np.array([functional.evaluate(scf.fock + a * x, forces=False).energy_ev / HARTREE
                      - scf.energy_ha for a in amps])
    assert np.all(rises > 0), rises
    slope = np.polyfit(np.log(amps), np.log(rises), 1)[0]
    assert 1.85 < slope < 2.15, (slope, rises)


def test_wrong_matrix_size_is_rejected(functional):
    with pytest.raises(ValueError, match="does not match"):
        functional.evaluate(np.eye(3))


def test_one_pass_energy_equals_pyscf_energy_tot(scf, functional):
    """The Hellmann-Feynman path's one density pass (no F[D]) gives PySCF's energy_tot and gradient."""
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.occupations import occupations

    rng = np.random.default_rng(7)
    x = rng.normal(size=scf.fock.shape)
    h = scf.fock + 1e-3 * (x + x.T)  # off the SCF point, so nothing is accidentally stationary
    e, c = solve(h, functional.overlap)
    occ = occupations(e, functional.nelectron).occ
    dm = density_matrix(c, occ)
    e_one_pass, grad = functional.energy_and_gradient(e, c, occ, dm)
    assert functional.mf._numint.rhoG is None  # no grid-sized array kept between geometries
    assert abs(e_one_pass - functional.energy_ha(dm)) < 1e-9
    assert np.allclose(grad, functional.gradient_ha_bohr(e, c, occ), atol=1e-10)


def test_fused_density_pass_equals_pyscf_separate_passes(scf, functional):
    """energy_fock_and_ip1's one pass gives energy_tot, h_core + get_veff and get_veff_ip1, and the
    consistent forces built on it equal those from PySCF's separate passes."""
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.multigrid_pass import supported
    from mlh_ipi.energy.occupations import occupations

    assert supported(functional.mf)  # the production settings take the fused path
    rng = np.random.default_rng(11)
    x = rng.normal(size=scf.fock.shape)
    h = scf.fock + 1e-3 * (x + x.T)
    e, c = solve(h, functional.overlap)
    occ = occupations(e, functional.nelectron).occ
    dm = density_matrix(c, occ)
    energy, fock, ip1 = functional.energy_fock_and_ip1(dm)
    assert functional.mf._numint.rhoG is not None  # left for the local-PP gradient
    ref_energy, ref_fock = functional.energy_and_fock(dm)
    assert abs(energy - ref_energy) < 1e-9
    assert np.abs(fock - ref_fock).max() < 1e-9
    assert np.abs(fock - fock.T).max() < 1e-12
    ref_ip1 = functional.mf._numint.get_veff_ip1(dm, xc_code=functional.mf.xc, kpts=np.zeros((1, 3)))
    assert ip1.shape == ref_ip1.shape and np.abs(ip1 - ref_ip1).max() < 1e-9
    w = rng.normal(size=dm.shape)
    w = w + w.T
    g_fused = functional.gradient_ha_bohr(e, c, occ, w_ao=w, veff_ip1=ip1)
    assert functional.mf._numint.rhoG is None and "get_veff_ip1" not in vars(functional.mf._numint)
    g_ref = functional.gradient_ha_bohr(e, c, occ, w_ao=w)
    assert np.abs(g_fused - g_ref).max() < 1e-9
