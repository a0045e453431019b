"""Structure builders and analysis: a-SiO2 melt-quench, O vacancies, GaAs defects, rattles, CLI."""
from __future__ import annotations

import math

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write
from ase.neighborlist import neighbor_list
from ase.spacegroup import crystal

from mlh_ipi.structures.analysis import (
    bond_angles, coordination_histogram, density_g_cm3, equivalent_environment_fraction,
    first_peak, fraction_fourfold_si, partial_rdf, sio2_report,
)
from mlh_ipi.structures.gaas import (DEFECTS, SIZES, defect_kind, defect_neighbourhood, gaas_defect, gaas_supercell,
                                     host_valence_states, tetrahedral_sites)
from mlh_ipi.structures.rattle import einstein_std, rattle, rattled_snapshots, thermal_snapshots
from mlh_ipi.structures.sio2 import bridging_oxygens, make_oxygen_vacancy

MQ_SEED = 25  # a seed whose first 48-atom quench is fully four-fold (~5 s on 2 idle cores)
# a few hundred steps per stage: checks plumbing and determinism in about a second
QUICK = dict(steps_melt=300, steps_remelt=100, steps_cool1=100, steps_cool2=300,
             steps_cool3=100, steps_hold=0, steps_anneal=100, steps_reanneal=100,
             max_requench=0, reject_ordered=False)


@pytest.fixture(scope="module")
def asio2():
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2

    return melt_quench_sio2(48, density=2.20, seed=MQ_SEED)


@pytest.fixture(scope="module")
def quartz():
    """alpha-quartz (P3_2 21, a = 4.916, c = 5.405 Angstrom): 9 atoms, hexagonal cell."""
    return crystal(["Si", "O"], basis=[(0.4697, 0.0, 2 / 3), (0.4135, 0.2669, 0.7858)],
                   spacegroup=154, cellpar=[4.916, 4.916, 5.405, 90, 90, 120])


# ---- analysis on a known crystal ------------------------------------------------

def test_analysis_of_alpha_quartz(quartz):
    assert quartz.get_chemical_formula() == "O6Si3"
    assert density_g_cm3(quartz) == pytest.approx(2.65, abs=0.01)
    assert coordination_histogram(quartz, "Si", "O") == {4: 3}
    assert coordination_histogram(quartz, "O", "Si") == {2: 6}
    rep = sio2_report(quartz)
    assert rep["fraction_si_fourfold"] == 1.0 and rep["fraction_o_twofold"] == 1.0
    assert rep["first_peak_si_o"] == pytest.approx(1.61, abs=0.01)
    assert rep["angle_o_si_o"]["mean"] == pytest.approx(109.47, abs=0.5)
    assert rep["angle_si_o_si"]["mean"] == pytest.approx(143.7, abs=1.5)
    assert rep["equivalent_si_fraction"] == 1.0  # a crystal: every Si has twins
    assert len(bond_angles(quartz, "Si", "O")) == 3 * 6  # six O-Si-O angles per SiO4
    assert len(bond_angles(quartz, "O", "Si")) == 6  # one Si-O-Si angle per bridging O


def test_rdf_is_supercell_invariant_on_a_triclinic_cell(quartz):
    r1, g1 = partial_rdf(quartz, "Si", "O", r_max=7.0, dr=0.05)
    r2, g2 = partial_rdf(quartz.repeat((2, 1, 3)), "Si", "O", r_max=7.0, dr=0.05)
    np.testing.assert_allclose(r1, r2)
    np.testing.assert_allclose(g1, g2, atol=1e-9)
    # coordination from integrating g_SiO up to 2.0 A: 4 O per Si
    rho_o = 6 / quartz.get_volume()
    dr = r1[1] - r1[0]
    n = np.sum((g1 * 4 * np.pi * r1**2 * dr * rho_o)[r1 < 2.0])
    assert n == pytest.approx(4.0, rel=0.05)


def test_rdf_of_an_ideal_gas_is_one():
    rng = np.random.default_rng(0)
    gas = Atoms("Si500O500", positions=rng.uniform(0, 30, (1000, 3)), cell=[30, 30, 30], pbc=True)
    r, g = partial_rdf(gas, "Si", "O", r_max=8.0, dr=0.1)
    assert np.mean(g[r > 3.0]) == pytest.approx(1.0, abs=0.05)
    assert equivalent_environment_fraction(gas, "Si") == 0.0


def test_first_peak_finds_a_gaussian_peak():
    r = np.arange(0.005, 6.0, 0.01)
    g = 1 + 8 * np.exp(-((r - 1.613) ** 2) / (2 * 0.03**2)) - np.exp(-r)
    g[r < 1.3] = 0
    assert first_peak(r, g) == pytest.approx(1.613, abs=0.002)
    assert math.isnan(first_peak(r, np.zeros_like(r)))


def test_analysis_refuses_nan_positions(quartz):
    bad = quartz.copy()
    bad.positions[0, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sio2_report(bad)


# ---- a-SiO2 by melt-quench ---------------------------------------------------------

def test_asio2_composition_cell_and_density(asio2):
    assert len(asio2) == 48
    assert asio2.get_chemical_formula() == "O32Si16"
    cell = asio2.cell.array
    assert np.allclose(cell, np.diag(np.diag(cell))) and np.ptp(np.diag(cell)) < 1e-9
    assert density_g_cm3(asio2) == pytest.approx(2.20, rel=1e-3)
    frac = asio2.get_scaled_positions(wrap=False)
    assert (frac >= 0).all() and (frac < 1).all()
    assert asio2.info["seed"] == MQ_SEED and asio2.info["potential"] == "SiO.1990.vashishta"


def test_asio2_is_a_tetrahedral_network(asio2):
    rep = sio2_report(asio2)
    assert rep["fraction_si_fourfold"] >= 0.95
    assert fraction_fourfold_si(asio2, cutoff=2.2) >= 0.95  # cutoff choice in 2.0-2.2 A is moot
    assert 1.58 <= rep["first_peak_si_o"] <= 1.66
    assert rep["si_o_bond"]["max"] < 1.80
    assert rep["angle_o_si_o"]["mean"] == pytest.approx(109.47, abs=1.5)
    assert 135.0 < rep["angle_si_o_si"]["mean"] < 165.0
    # amorphous, not a crystal that ordered in the small cell
    assert rep["equivalent_si_fraction"] == 0.0 and asio2.info["ordered"] is False
    # O-O and Si-Si first peaks where a corner-sharing SiO4 network puts them
    assert 2.55 < rep["first_peak_o_o"] < 2.70  # O-O edge of the SiO4 tetrahedron
    assert 2.95 < rep["first_peak_si_si"] < 3.25


def test_melt_quench_is_deterministic_for_a_seed():
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2

    a = melt_quench_sio2(24, seed=7, **QUICK)
    b = melt_quench_sio2(24, seed=7, **QUICK)
    c = melt_quench_sio2(24, seed=8, **QUICK)
    assert a.get_chemical_symbols() == b.get_chemical_symbols()
    np.testing.assert_array_equal(a.positions, b.positions)
    assert np.abs(a.positions - c.positions).max() > 0.1


def test_melt_quench_retries_until_the_network_is_four_fold_or_the_budget_is_spent():
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2

    # demand a perfect network from a far too short quench: retry 1 anneals, retry 2 re-melts
    a = melt_quench_sio2(24, seed=2, **{**QUICK, "max_requench": 2, "remelt_every": 2,
                                        "min_fourfold": 1.0})
    assert 0 <= a.info["n_requench"] <= 2
    assert a.info["n_not_fourfold"] == 0 or a.info["n_requench"] == 2
    assert a.info["n_not_fourfold"] == round(8 * (1 - fraction_fourfold_si(a)))


@pytest.mark.parametrize("n_atoms", [50, 0, 47])
def test_melt_quench_needs_a_multiple_of_three(n_atoms):
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2

    with pytest.raises(ValueError, match="multiple of 3"):
        melt_quench_sio2(n_atoms)


def test_melt_quench_rejects_unknown_settings_and_bad_density():
    from mlh_ipi.lammps.melt_quench import melt_quench_sio2

    with pytest.raises(ValueError, match="unknown melt-quench setting"):
        melt_quench_sio2(48, t_mlet=4000)
    with pytest.raises(ValueError, match="density"):
        melt_quench_sio2(48, density=float("nan"))


# ---- oxygen vacancy ----------------------------------------------------------------

def test_oxygen_vacancy_records_site_and_two_si(asio2, tmp_path):
    site = int(np.flatnonzero(np.array(asio2.get_chemical_symbols()) == "O")[5])
    defect, info = make_oxygen_vacancy(asio2, site=site)
    assert defect.get_chemical_formula() == "O31Si16" and len(defect) == 47
    assert info["defect"] == "V_O" and info["defect_host_index"] == site
    np.testing.assert_allclose(info["defect_position"], asio2.positions[site])
    assert len(info["defect_si_host"]) == 2 and len(info["defect_si"]) == 2
    assert all(s == "Si" for s in np.array(asio2.get_chemical_symbols())[info["defect_si_host"]])
    np.testing.assert_allclose(defect.positions[info["defect_si"]], asio2.positions[info["defect_si_host"]])
    assert all(1.5 < d < 1.8 for d in info["defect_si_o_distances"])
    assert 2.8 < info["defect_si_si_distance"] < 3.3  # Si-Si across an Si-O-Si bridge
    # the record travels with the structure through extxyz
    write(tmp_path / "vo.extxyz", defect)
    back = read(tmp_path / "vo.extxyz")
    assert back.info["defect"] == "V_O" and int(back.info["defect_host_index"]) == site
    assert list(back.info["defect_si"]) == info["defect_si"]


def test_oxygen_vacancy_index_mapping_when_si_follow_the_o(asio2):
    order = np.random.default_rng(3).permutation(len(asio2))
    host = asio2[order]
    o_first = int(np.flatnonzero(np.array(host.get_chemical_symbols()) == "O")[0])
    defect, info = make_oxygen_vacancy(host, site=o_first)
    for h, d in zip(info["defect_si_host"], info["defect_si"]):
        assert d == (h - 1 if h > o_first else h)
        np.testing.assert_allclose(defect.positions[d], host.positions[h])


def test_random_oxygen_vacancy_is_reproducible_and_bridging(asio2):
    _, a = make_oxygen_vacancy(asio2, seed=11)
    _, b = make_oxygen_vacancy(asio2, seed=11)
    assert a == b and a["defect_host_index"] in bridging_oxygens(asio2)
    sites = {make_oxygen_vacancy(asio2, seed=s)[1]["defect_host_index"] for s in range(8)}
    assert len(sites) > 1


@pytest.mark.parametrize("site, message", [(0, "not O"), (48, "out of range"), (-1, "out of range")])
def test_oxygen_vacancy_rejects_bad_sites(asio2, site, message):
    with pytest.raises(ValueError, match=message):
        make_oxygen_vacancy(asio2, site=site)


# ---- GaAs --------------------------------------------------------------------------

EXPECTED = {  # kind: (delta atoms, delta Ga, delta As)
    "pristine": (0, 0, 0), "V_Ga": (-1, -1, 0), "V_As": (-1, 0, -1),
    "Ga_i": (1, 1, 0), "As_i": (1, 0, 1), "As_Ga": (0, -1, 1),
}


@pytest.mark.parametrize("n_atoms", SIZES)
@pytest.mark.parametrize("kind", DEFECTS)
def test_gaas_defect_stoichiometry(kind, n_atoms):
    atoms = gaas_defect(kind, n_atoms)
    dn, dga, das = EXPECTED[kind]
    symbols = atoms.get_chemical_symbols()
    assert len(atoms) == n_atoms + dn
    assert symbols.count("Ga") == n_atoms // 2 + dga and symbols.count("As") == n_atoms // 2 + das
    assert atoms.info["defect"] == kind and atoms.info["n_host_atoms"] == n_atoms
    # the kind is recovered from the composition alone (frames written without info)
    assert defect_kind(Atoms(atoms.get_chemical_symbols(), positions=atoms.positions)) == kind


def test_defect_kind_refuses_other_compositions():
    with pytest.raises(ValueError, match="not a GaAs cell"):
        defect_kind(Atoms("Si2O4"))
    with pytest.raises(ValueError, match="not a single native defect"):
        defect_kind(Atoms("Ga30As34"))


@pytest.mark.parametrize("n_atoms", SIZES)
def test_gaas_hosts_are_perfect_zincblende(n_atoms):
    host = gaas_supercell(n_atoms, a=5.75)
    assert host.get_volume() == pytest.approx(n_atoms / 8 * 5.75**3)
    i, j, d = neighbor_list("ijd", host, 2.6)
    symbols = np.array(host.get_chemical_symbols())
    assert (np.bincount(i) == 4).all() and (symbols[i] != symbols[j]).all()
    np.testing.assert_allclose(d, np.sqrt(3) / 4 * 5.75)


@pytest.mark.parametrize("kind, shell", [("Ga_i", "As"), ("As_i", "Ga")])
@pytest.mark.parametrize("n_atoms", SIZES)
def test_gaas_interstitial_sits_on_a_tetrahedral_site(kind, shell, n_atoms):
    a = 5.75
    atoms = gaas_defect(kind, n_atoms, a=a)
    k = atoms.info["defect_index"]
    assert atoms[k].symbol == kind[:2] and atoms.info["defect_tsite"] == f"T_{shell}"
    i, j, d = neighbor_list("ijd", atoms, 3.0)
    mine = i == k
    order = np.argsort(d[mine])
    dist, neigh = d[mine][order], np.array(atoms.get_chemical_symbols())[j[mine][order]]
    assert len(dist) == 10  # 4 nearest + 6 second neighbours
    np.testing.assert_allclose(dist[:4], np.sqrt(3) / 4 * a, atol=1e-9)
    np.testing.assert_allclose(dist[4:], a / 2, atol=1e-9)
    assert (neigh[:4] == shell).all() and (neigh[4:] != shell).all()


def test_gaas_tsite_override_and_antisite_neighbours():
    ga_i = gaas_defect("Ga_i", 64, tsite="Ga")
    k = ga_i.info["defect_index"]
    i, j, d = neighbor_list("ijd", ga_i, 2.6)
    assert ga_i.info["defect_tsite"] == "T_Ga"
    assert set(np.array(ga_i.get_chemical_symbols())[j[i == k]]) == {"Ga"}
    asga = gaas_defect("As_Ga", 216)
    k = asga.info["defect_index"]
    i, j, _ = neighbor_list("ijd", asga, 2.6)
    assert asga[k].symbol == "As" and list(np.array(asga.get_chemical_symbols())[j[i == k]]) == ["As"] * 4
    assert len(tetrahedral_sites(gaas_supercell(64), "As", 5.75)) == 32


def test_gaas_errors():
    with pytest.raises(ValueError, match="unknown GaAs defect"):
        gaas_defect("V_Si")
    with pytest.raises(ValueError, match="one of"):
        gaas_defect("V_Ga", 100)
    host = gaas_supercell(64)
    as_index = host.get_chemical_symbols().index("As")
    with pytest.raises(ValueError, match="needs a Ga site"):
        gaas_defect("V_Ga", 64, site=as_index)
    with pytest.raises(ValueError, match="interstitials only"):
        gaas_defect("V_As", 64, tsite="Ga")


def test_gaas_defect_neighbourhood_is_the_defect_atom_and_its_first_shell():
    as_i = gaas_defect("As_i", 64)
    atoms = defect_neighbourhood(as_i)
    assert atoms[-1] == 64 and len(atoms) == 5  # the interstitial and its four Ga (T_Ga site)
    assert all(as_i[i].symbol == "Ga" for i in atoms[:-1])
    assert np.allclose(as_i.get_distances(64, atoms[:-1], mic=True), np.sqrt(3) / 4 * 5.75)
    v_ga = gaas_defect("V_Ga", 64)
    assert len(defect_neighbourhood(v_ga)) == 4 and {v_ga[i].symbol for i in defect_neighbourhood(v_ga)} == {"As"}
    assert defect_neighbourhood(gaas_defect("pristine", 64)) == []
    # an MD frame keeps the atom order, so the builder's list follows the atoms
    moved = as_i.copy()
    moved.positions += 0.1
    assert defect_neighbourhood(moved) == atoms


def test_host_valence_states_counts_the_states_below_the_host_gap():
    assert host_valence_states("pristine", 256) == 128
    assert host_valence_states("As_Ga", 258) == 129
    assert host_valence_states("As_i", 261) == 129  # its s state in the valence band, 3 p electrons above
    assert host_valence_states("V_Ga", 253) is None  # not checked: occupation decides
    with pytest.raises(ValueError, match="unknown GaAs defect"):
        host_valence_states("V_Si", 256)
    with pytest.raises(ValueError, match="odd"):
        host_valence_states("As_i", 260)


# ---- rattles -----------------------------------------------------------------------

def test_rattle_is_deterministic_and_has_the_asked_std():
    host = gaas_supercell(216)
    a, b = rattle(host, 0.05, seed=4), rattle(host, 0.05, seed=4)
    np.testing.assert_array_equal(a.positions, b.positions)
    assert not np.allclose(rattle(host, 0.05, seed=5).positions, a.positions)
    assert np.std(a.positions - host.positions) == pytest.approx(0.05, rel=0.1)
    series3, series5 = rattled_snapshots(host, 0.05, 3, seed=1), rattled_snapshots(host, 0.05, 5, seed=1)
    for s3, s5 in zip(series3, series5):  # snapshot k does not depend on the count
        np.testing.assert_array_equal(s3.positions, s5.positions)
    assert not np.allclose(series5[0].positions, series5[1].positions)
    assert np.allclose(a.cell, host.cell)


def test_rattle_strain_deforms_the_cell_symmetrically():
    host = gaas_supercell(64)
    s = rattle(host, 0.0, seed=2, strain=0.02)
    eps = np.linalg.solve(host.cell.array, s.cell.array) - np.eye(3)
    np.testing.assert_allclose(eps, eps.T, atol=1e-12)
    assert 1e-4 < np.abs(eps).max() < 0.1
    np.testing.assert_allclose(s.get_scaled_positions(), host.get_scaled_positions(), atol=1e-12)


def test_rattle_refuses_nan():
    host = gaas_supercell(64)
    bad = host.copy()
    bad.positions[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        rattle(bad, 0.05)
    with pytest.raises(ValueError, match="std"):
        rattle(host, float("nan"))
    with pytest.raises(ValueError, match="NaN"):
        thermal_snapshots(bad, 300.0, 2, frequency_thz=3.3)


def test_thermal_snapshots_follow_the_einstein_model():
    # classical sigma^2 = kT / (m omega^2): 300 K, 3.3 THz, 69.72 amu -> 0.091 Angstrom
    kT = 1.380649e-23 * 300.0
    m = 69.72 * 1.66053906660e-27
    omega = 2 * np.pi * 3.3e12
    assert einstein_std([69.72], 300.0, 3.3)[0] == pytest.approx(np.sqrt(kT / (m * omega**2)) * 1e10)
    assert einstein_std([69.72], 300.0, 3.3, quantum=True)[0] > einstein_std([69.72], 300.0, 3.3)[0]
    assert einstein_std([16.0], 0.0, 15.0, quantum=True)[0] > 0  # zero-point motion
    host = gaas_supercell(216)
    snaps = thermal_snapshots(host, 300.0, 2, seed=0, frequency_thz=3.3)
    disp = snaps[0].positions - host.positions
    assert np.std(disp) == pytest.approx(np.mean(einstein_std(host.get_masses(), 300.0, 3.3)), rel=0.1)
    assert snaps[0].info["temperature_K"] == 300.0


# ---- CLI ---------------------------------------------------------------------------

def _cli(argv):
    from mlh_ipi.cli.main import main

    return main(argv)


def test_cli_build_gaas_vacancy_and_rattle(tmp_path, asio2, capsys):
    out = tmp_path / "asi.extxyz"
    assert _cli(["build", "gaas", "--defect", "As_i", "--atoms", "64", "--out", str(out)]) == 0
    atoms = read(out)
    assert len(atoms) == 65 and atoms.info["defect"] == "As_i"

    host = tmp_path / "host.extxyz"
    write(host, asio2)
    vo = tmp_path / "vo.extxyz"
    site = int(np.flatnonzero(np.array(asio2.get_chemical_symbols()) == "O")[0])
    assert _cli(["build", "vacancy", str(host), "--site", str(site), "--out", str(vo)]) == 0
    assert "Si neighbours" in capsys.readouterr().out
    d = read(vo)
    assert len(d) == 47 and int(d.info["defect_host_index"]) == site
    assert _cli(["build", "vacancy", str(host), "--random", "--seed", "2", "--out", str(vo)]) == 0
    expected = make_oxygen_vacancy(asio2, seed=2)[1]["defect_host_index"]
    assert int(read(vo).info["defect_host_index"]) == expected
    assert _cli(["build", "vacancy", str(host), "--site", "0", "--out", str(vo)]) == 2
    assert "not O" in capsys.readouterr().err

    snaps = tmp_path / "snaps.extxyz"
    assert _cli(["build", "rattle", str(out), "--std", "0.05", "--count", "3", "--seed", "0",
                 "--out", str(snaps)]) == 0
    frames = read(snaps, index=":")
    ref = rattled_snapshots(atoms, 0.05, 3, seed=0)
    assert len(frames) == 3
    for f, r in zip(frames, ref):
        np.testing.assert_allclose(f.positions, r.positions, atol=1e-6)
    assert _cli(["build", "rattle", str(out), "--temperature", "300", "--einstein-thz", "3.3",
                 "--count", "2", "--out", str(snaps)]) == 0
    assert len(read(snaps, index=":")) == 2


def test_cli_build_sio2_prints_the_report(tmp_path, capsys):
    out = tmp_path / "host.extxyz"
    quick = [f"--set={k}={v}" for k, v in QUICK.items() if k != "reject_ordered"]
    assert _cli(["build", "sio2", "--atoms", "24", "--seed", "3", "--out", str(out),
                 "--report", str(tmp_path / "r.json"), *quick]) == 0
    text = capsys.readouterr().out
    assert "four-fold" in text and "Si-O" in text and "g/cm^3" in text
    atoms = read(out)
    assert len(atoms) == 24 and atoms.get_chemical_formula() == "O16Si8"
    assert (tmp_path / "r.json").exists()
    assert _cli(["build", "sio2", "--atoms", "50", "--out", str(out)]) == 2
    assert "multiple of 3" in capsys.readouterr().err


def test_frames_evenly_spaced_in_path_length_end_at_the_last_frame():
    from ase import Atoms

    from mlh_ipi.structures.trajectory import evenly_in_path_length

    # one atom moving 1 A, then 9 steps of 0.1 A: path length 1.9 A over 11 frames
    xs = [0.0, 1.0] + [1.0 + 0.1 * k for k in range(1, 10)]
    frames = [Atoms("H", positions=[[x, 0, 0]]) for x in xs]
    assert evenly_in_path_length(frames, 2) == [1, 10]  # ~0.95 A (the big jump) and the end
    assert evenly_in_path_length(frames, 4, include_first=True) == [0, 1, 4, 10]  # 0, 0.63, 1.27, 1.9
    assert evenly_in_path_length(frames, 50)[-1] == 10 and 0 not in evenly_in_path_length(frames, 50)
    assert evenly_in_path_length(frames[:1], 3) == [0]
    with pytest.raises(ValueError, match="at least 1"):
        evenly_in_path_length(frames, 0)
