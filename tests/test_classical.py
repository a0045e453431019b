"""Classical-potential labels from LAMMPS: forces are -dE/dx, any cell shape, clear errors."""
import numpy as np
import pytest
from ase.build import bulk

from mlh_ipi.forcefield.export import ENERGY_KEY, FORCES_KEY
from mlh_ipi.lammps.classical import GAAS_BOP, SIO2_VASHISHTA, classical_label, thermal_snapshots


def _rattled_primitive_gaas():
    at = bulk("GaAs", "zincblende", a=5.65).repeat((2, 2, 2))  # fcc primitive vectors: a skewed cell
    at.rattle(0.05, seed=1)
    return at


def test_bop_forces_are_minus_the_energy_gradient_in_a_skewed_cell():
    at = _rattled_primitive_gaas()
    lab = classical_label(at, GAAS_BOP)
    np.testing.assert_array_equal(lab.positions, at.positions)
    assert abs(lab.arrays[FORCES_KEY].sum(0)).max() < 1e-8  # translation invariance
    h = 1e-4
    for i, c in [(0, 0), (3, 2), (7, 1)]:
        plus, minus = at.copy(), at.copy()
        plus.positions[i, c] += h
        minus.positions[i, c] -= h
        fd = -(classical_label(plus, GAAS_BOP).info[ENERGY_KEY]
               - classical_label(minus, GAAS_BOP).info[ENERGY_KEY]) / (2 * h)
        assert lab.arrays[FORCES_KEY][i, c] == pytest.approx(fd, abs=1e-5)


def test_rotating_the_cell_rotates_the_forces():
    at = _rattled_primitive_gaas()
    rot = at.copy()
    rot.rotate(37.0, (1, 2, 3), rotate_cell=True)
    a, b = classical_label(at, GAAS_BOP), classical_label(rot, GAAS_BOP)
    assert a.info[ENERGY_KEY] == pytest.approx(b.info[ENERGY_KEY], abs=1e-8)
    r = np.linalg.solve(at.cell.array, rot.cell.array)  # rot.cell = at.cell @ r
    np.testing.assert_allclose(a.arrays[FORCES_KEY] @ r, b.arrays[FORCES_KEY], atol=1e-7)


def test_thermal_snapshots_are_labelled_and_move():
    at = bulk("GaAs", "zincblende", a=5.65, cubic=True)
    frames = thermal_snapshots(at, GAAS_BOP, 600.0, 2, stride=20, equilibration=20)
    assert len(frames) == 2 and all(f.info["temperature_K"] == 600.0 for f in frames)
    assert np.abs(frames[0].arrays[FORCES_KEY]).max() > 0.05
    assert not np.allclose(frames[0].positions, frames[1].positions)
    # labels are the potential's own forces, not MD forces with the thermostat's drag and kicks
    again = classical_label(frames[1], GAAS_BOP)
    np.testing.assert_allclose(again.arrays[FORCES_KEY], frames[1].arrays[FORCES_KEY], atol=1e-8)
    assert again.info[ENERGY_KEY] == pytest.approx(frames[1].info[ENERGY_KEY], abs=1e-8)


def test_species_the_potential_lacks_and_nan_are_refused():
    with pytest.raises(ValueError, match="no parameters for"):
        classical_label(bulk("GaAs", "zincblende", a=5.65), SIO2_VASHISHTA)
    bad = bulk("GaAs", "zincblende", a=5.65)
    bad.positions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        classical_label(bad, GAAS_BOP)
