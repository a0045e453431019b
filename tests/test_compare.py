"""Structure comparison: ΔQ and sphere coordinate errors (minimum image, rigid shift removed)."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from mlh_ipi.structures.compare import delta_q, displacements, distances_from, sphere_mae


def _sio2_like(seed=0):
    """A 3x3x3 diamond-like cell with Si and O (54 atoms, 16.3 A box), randomly rattled."""
    at = bulk("Si", "diamond", a=5.43, cubic=False) * (3, 3, 3)
    symbols = ["Si" if k % 3 else "O" for k in range(len(at))]
    at.set_chemical_symbols(symbols)
    at.rattle(0.05, seed=seed)
    return at


def test_rigid_translation_gives_zero_delta_q_and_zero_errors():
    ref = _sio2_like()
    moved = ref.copy()
    moved.positions += [0.37, -0.21, 1.3]
    assert delta_q(ref, moved) == pytest.approx(0.0, abs=1e-9)
    assert delta_q(ref, moved, mass_weighted=False) == pytest.approx(0.0, abs=1e-9)
    for mae, n in sphere_mae(ref, moved, centre=ref.positions[4]).values():
        assert mae == pytest.approx(0.0, abs=1e-9) and n > 0
    # without translation removal the shift is all there is
    m = ref.get_masses().sum()
    assert delta_q(ref, moved, remove_translation=False) == pytest.approx(
        np.sqrt(m * (0.37 ** 2 + 0.21 ** 2 + 1.3 ** 2)), rel=1e-9)


def test_wrapping_atoms_across_the_boundary_changes_nothing():
    ref = _sio2_like(1)
    other = ref.copy()
    other.positions[7] += [0.1, 0.0, -0.05]
    other.positions[20] += [0.0, 0.2, 0.0]
    wrapped = other.copy()
    # push some atoms by whole lattice vectors, then wrap everything into the cell
    wrapped.positions[3] += ref.cell[0] - 2 * ref.cell[2]
    wrapped.positions[20] -= ref.cell[1]
    wrapped.wrap()
    assert not np.allclose(wrapped.positions, other.positions)
    assert delta_q(ref, wrapped) == pytest.approx(delta_q(ref, other), rel=1e-10)
    a, b = sphere_mae(ref, wrapped, centre=ref.positions[7]), sphere_mae(ref, other, centre=ref.positions[7])
    for r in a:
        assert a[r] == pytest.approx(b[r], rel=1e-10)


def test_delta_q_equals_the_analytic_value_for_a_known_displacement():
    ref = _sio2_like(2)
    other = ref.copy()
    d1, d2 = np.array([0.1, -0.2, 0.05]), np.array([0.0, 0.3, 0.0])
    i, j = 0, 1  # an O and a Si
    other.positions[i] += d1
    other.positions[j] += d2
    m = ref.get_masses()
    assert ref[i].symbol == "O" and ref[j].symbol == "Si"
    # the mass-weighted mean shift s is removed: u_a -> u_a - s for every atom
    s = (m[i] * d1 + m[j] * d2) / m.sum()
    u = -np.tile(s, (len(ref), 1))
    u[i] += d1
    u[j] += d2
    expected = np.sqrt((m * (u ** 2).sum(axis=1)).sum())
    assert delta_q(ref, other) == pytest.approx(expected, rel=1e-12)
    # raw value: O 15.999, Si 28.085 amu
    raw = np.sqrt(m[i] * d1 @ d1 + m[j] * d2 @ d2)
    assert delta_q(ref, other, remove_translation=False) == pytest.approx(raw, rel=1e-12)
    assert raw == pytest.approx(np.sqrt(15.999 * 0.0525 + 28.085 * 0.09), rel=1e-3)
    # the plain-mean variant removes a different shift and gives a (slightly) different value
    assert delta_q(ref, other, mass_weighted=False) != pytest.approx(delta_q(ref, other), rel=1e-6)
    # displacement of a single atom in a large cell: ΔQ -> sqrt(m) |d| as the removed shift vanishes
    assert delta_q(ref, other, remove_translation=False) > delta_q(ref, other)


def test_sphere_mae_selects_the_atoms_within_each_radius():
    ref = Atoms("SiO2Si", positions=[[1, 1, 1], [3.5, 1, 1], [1, 1, 6.0], [9.5, 1, 1]],
                cell=[10, 10, 10], pbc=True)
    centre = [1.0, 1.0, 1.0]
    # minimum-image: atom 3 at x = 9.5 is 1.5 A from the centre through the boundary
    assert distances_from(ref, centre) == pytest.approx([0.0, 2.5, 5.0, 1.5])
    other = ref.copy()
    other.positions[1] += [0.3, 0.0, 0.0]   # 2.5 A from the centre
    other.positions[2] += [0.0, 0.6, 0.0]   # 5.0 A from the centre
    res = sphere_mae(ref, other, centre=centre, radii=(1.0, 2.0, 3.0, 5.0, 12.0),
                     remove_translation=False)
    assert res[1.0] == (0.0, 1)
    assert res[2.0] == (0.0, 2)                                        # atom 0 and wrapped atom 3
    assert res[3.0][1] == 3 and res[3.0][0] == pytest.approx(0.3 / 9)  # 3 atoms x 3 components
    assert res[5.0][1] == 4 and res[5.0][0] == pytest.approx(0.9 / 12)
    assert res[12.0] == res[5.0]                                       # every atom once, no images
    # the centre comes from info["defect_position"] when not given
    ref.info["defect_position"] = centre
    assert sphere_mae(ref, other, radii=(3.0,), remove_translation=False)[3.0] == res[3.0]
    assert np.isnan(sphere_mae(ref, other, centre=[5, 5, 3.5], radii=(0.5,))[0.5][0])


def test_mismatched_structures_are_rejected():
    ref = _sio2_like()
    with pytest.raises(ValueError, match="atom counts"):
        delta_q(ref, ref[:-1])
    other = ref.copy()
    other.set_cell(ref.cell * 1.01, scale_atoms=True)
    with pytest.raises(ValueError, match="different cells"):
        displacements(ref, other)
    with pytest.raises(ValueError, match="defect_position"):
        sphere_mae(ref, ref.copy())
