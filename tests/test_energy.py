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


def test_dft_hamiltonian_reproduces_scf_energy_and_forces(scf, functional):
    """Feeding the converged DFT H: E to 1e-6 Ha, forces to 1e-4 Ha/Bohr (no SCF iterations)."""
    res = functional.evaluate(scf.fock)
    assert abs(res.energy_ev / HARTREE - scf.energy_ha) < 1e-6
    f_ref = scf.forces_ev_per_a() / HARTREE_PER_BOHR
    assert np.abs(res.forces_ev_per_a / HARTREE_PER_BOHR - f_ref).max() < 1e-4
    assert np.abs(f_ref).max() > 1e-2  # the rattled cell has real forces to reproduce
    assert res.free_energy_ev == res.energy_ev  # no smearing


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
    """The energy assembled from the gradient's own density pass equals PySCF's energy_tot."""
    from mlh_ipi.electronic.eigen import density_matrix, solve
    from mlh_ipi.energy.occupations import occupations

    rng = np.random.default_rng(7)
    x = rng.normal(size=scf.fock.shape)
    h = scf.fock + 1e-3 * (x + x.T)  # off the SCF point, so nothing is accidentally stationary
    e, c = solve(h, functional.overlap)
    occ = occupations(e, functional.nelectron).occ
    dm = density_matrix(c, occ)
    e_one_pass, grad = functional.energy_and_gradient(e, c, occ, dm)
    assert abs(e_one_pass - functional.energy_ha(dm)) < 1e-9
    assert np.allclose(grad, functional.gradient_ha_bohr(e, c, occ), atol=1e-10)
