"""LAMMPS MD with MACE forces through ``fix external pf/callback``.

Must-show checks: LAMMPS reports MACE's energy, forces and pressure at step 0
(same numbers as ``mace.calculators.MACECalculator``); NVE conserves energy;
a resumed run continues the same trajectory; a model/species mismatch or a
wrong type map fails before the first step. Plus the physics-check functions
(RDF, VACF/VDOS, drift) on cases with known answers.
"""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms

from mace_fixtures import small_mace_model
from mlh_ipi.lammps import analysis
from mlh_ipi.lammps.md import restart_files, run_md, single_point, write_data_file
from mlh_ipi.structures.gaas import gaas_supercell

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "lammps_inputs"
EV_PER_A3_TO_BAR = 1.602176634e6  # LAMMPS metal nktv2p is 1.6021765e6: relative 1e-7


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def gaas_model(tmp_path_factory) -> Path:
    # interaction_scale 30: forces ~1 eV/A on a rattled cell, so the checks are not trivial
    return small_mace_model(tmp_path_factory.mktemp("mace") / "gaas.model", ("Ga", "As"),
                            seed=0, interaction_scale=30.0)


def _tilted_gaas(seed: int = 0) -> Atoms:
    """64-atom GaAs in a strained triclinic cell (already LAMMPS lower-triangular), rattled."""
    atoms = gaas_supercell(64)
    cell = atoms.cell.array.copy()
    cell[0, 0] *= 1.01
    cell[1] += [0.35, 0.0, 0.0]
    cell[2] += [-0.25, 0.4, -0.1]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.1, seed=seed)
    return atoms


def _mace_calculator(*paths):
    from mace.calculators import MACECalculator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MACECalculator(model_paths=[str(p) for p in paths], device="cpu",
                              default_dtype="float64")


@pytest.mark.parametrize("script", ["md_nvt_langevin.in", "md_nve.in"])
def test_step0_energy_forces_pressure_equal_mace_ase_calculator(gaas_model, tmp_path, script):
    atoms = _tilted_gaas()
    lmp = single_point(SCRIPTS / script, gaas_model, atoms, tmp_path)
    assert lmp["type_to_element"] == ["Ga", "As"]
    np.testing.assert_allclose(lmp["cell"], atoms.cell.array, atol=1e-9)  # no rotation

    atoms.calc = _mace_calculator(gaas_model)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    stress = atoms.get_stress(voigt=False)
    assert np.abs(forces).max() > 0.3  # a real force field, not a flat one
    assert abs(lmp["energy_ev"] - energy) < 1e-8
    np.testing.assert_allclose(lmp["forces_ev_per_a"], forces, rtol=0, atol=1e-8)
    # LAMMPS virial pressure (bar) = -ASE stress (eV/A^3), all six components
    np.testing.assert_allclose(lmp["virial_pressure_bar"], -stress * EV_PER_A3_TO_BAR,
                               rtol=1e-6, atol=1e-3)
    assert np.abs(stress).max() * EV_PER_A3_TO_BAR > 100.0  # > 100 bar: a non-trivial test


def test_committee_mean_equals_mace_calculator_committee(gaas_model, tmp_path):
    other = small_mace_model(tmp_path / "other.model", ("Ga", "As"), seed=1,
                             interaction_scale=30.0)
    atoms = _tilted_gaas(seed=2)
    lmp = single_point(SCRIPTS / "md_nve.in", [gaas_model, other], atoms, tmp_path / "run")
    atoms.calc = _mace_calculator(gaas_model, other)
    assert abs(lmp["energy_ev"] - atoms.get_potential_energy()) < 1e-8
    np.testing.assert_allclose(lmp["forces_ev_per_a"], atoms.get_forces(), atol=1e-8)
    single = single_point(SCRIPTS / "md_nve.in", gaas_model, atoms, tmp_path / "one")
    assert abs(single["energy_ev"] - lmp["energy_ev"]) > 1e-3  # the mean is not member 0


def test_nve_conserves_energy(gaas_model, tmp_path):
    atoms = gaas_supercell(64)
    atoms.rattle(0.05, seed=3)
    steps = 200
    (res,) = run_md(SCRIPTS / "md_nve.in", gaas_model, atoms, [300.0], steps, tmp_path,
                    variables={"dt": 0.001, "thermo_every": 5, "dump_every": 5},
                    progress=False)
    assert res.final_step == steps and not res.skipped
    thermo = analysis.read_thermo(Path(res.folder) / "log.lammps")
    assert thermo["Step"][-1] == steps
    e_tot, e_pot = thermo["TotEng"] / 64, thermo["PotEng"] / 64
    # The random-weight potential is not a crystal's: atoms fall into its minima and the
    # cell heats up, so the potential energy moves by ~0.1 eV/atom while the total stays
    # within 0.5 meV/atom (a harder test than small vibrations about a minimum).
    assert e_pot.max() - e_pot.min() > 0.01
    assert np.abs(e_tot - e_tot[0]).max() < 5e-4
    summary = json.loads((Path(res.folder) / "analysis.json").read_text())
    assert abs(summary["energy"]["drift_mev_per_atom_per_ps"]) < 2.0
    for png in ("energy.png", "rdf.png", "vacf_vdos.png"):
        assert (Path(res.folder) / png).stat().st_size > 1000


def test_resume_from_restart_continues_the_same_trajectory(gaas_model, tmp_path):
    atoms = gaas_supercell(64)
    atoms.rattle(0.05, seed=4)
    script = SCRIPTS / "md_nvt_nosehoover.in"
    kw = dict(variables={"thermo_every": 5, "dump_every": 5, "restart_every": 10},
              analyse=False, progress=False)
    (full,) = run_md(script, gaas_model, atoms, [400.0], 40, tmp_path / "full", **kw)
    (first,) = run_md(script, gaas_model, atoms, [400.0], 20, tmp_path / "split", **kw)
    assert first.final_step == 20
    assert [s for s, _ in restart_files(Path(first.folder))][0] == 20
    (second,) = run_md(script, gaas_model, atoms, [400.0], 40, tmp_path / "split", **kw)
    assert second.start_step == 20 and second.resumed_from.endswith("restart.20")
    (again,) = run_md(script, gaas_model, atoms, [400.0], 40, tmp_path / "split", **kw)
    assert again.skipped  # complete: nothing to do
    # complete and analysed, then checked out without its (untracked) log.lammps: skipped, not re-read
    (tmp_path / "copy").mkdir()
    shutil.copytree(second.folder, tmp_path / "copy" / Path(second.folder).name)
    copy = tmp_path / "copy" / Path(second.folder).name
    analysis.analyse_run(copy)
    (copy / "log.lammps").unlink()
    before = (copy / "analysis.json").read_bytes()
    (kept_run,) = run_md(script, gaas_model, atoms, [400.0], 40, tmp_path / "copy",
                         **{**kw, "analyse": True})
    assert kept_run.skipped and (copy / "analysis.json").read_bytes() == before

    a = analysis.read_thermo(Path(full.folder) / "log.lammps")
    b = analysis.read_thermo(Path(second.folder) / "log.lammps")
    np.testing.assert_array_equal(a["Step"], b["Step"])
    for col in ("TotEng", "PotEng", "Temp", "Press"):
        np.testing.assert_allclose(b[col], a[col], rtol=1e-9, atol=1e-9)
    fa = analysis.read_dump(Path(full.folder) / "traj.lammpstrj")[-1]
    fb = analysis.read_dump(Path(second.folder) / "traj.lammpstrj")[-1]
    assert fa.step == fb.step == 40
    np.testing.assert_allclose(fb.positions, fa.positions, atol=1e-8)
    # the Nose-Hoover thermostat really acted (the NVE total would be constant)
    assert np.ptp(a["TotEng"]) > 1e-3

    # only the two newest restarts are kept; a truncated newest one (killed while
    # writing) falls back to the older one
    kept = restart_files(Path(second.folder))
    assert [s for s, _ in kept] == [40, 30]
    data = kept[0][1].read_bytes()
    kept[0][1].write_bytes(data[: len(data) // 2])
    (third,) = run_md(script, gaas_model, atoms, [400.0], 50, tmp_path / "split", **kw)
    assert third.start_step == 30 and third.final_step == 50
    c = analysis.read_thermo(Path(third.folder) / "log.lammps")
    np.testing.assert_allclose(c["TotEng"][c["Step"] <= 40], a["TotEng"], rtol=1e-9, atol=1e-9)


def test_temperature_series_and_hooks(gaas_model, tmp_path):
    calls = []

    def hook(lmp):
        # installed after the script's setup, before run: the MACE fix exists already
        assert lmp.has_id("fix", "mace")
        calls.append(int(lmp.extract_global("ntimestep")))
        lmp.command(f"fix hookprint all print 5 \"hook $(step)\" file "
                    f"{tmp_path}/hook_{len(calls)}.txt screen no")

    results = run_md(SCRIPTS / "md_nvt_langevin.in", gaas_model, gaas_supercell(64),
                     [100.0, 500.0], 10, tmp_path / "series", hooks=[hook],
                     variables={"thermo_every": 5, "dump_every": 5}, progress=False)
    assert [r.temperature_K for r in results] == [100.0, 500.0]
    assert calls == [0, 0]
    assert "hook 10" in (tmp_path / "hook_2.txt").read_text()
    for r in results:
        meta = json.loads((Path(r.folder) / "md.json").read_text())
        assert meta["temperature_K"] == r.temperature_K and meta["type_to_element"] == ["Ga", "As"]
        assert r.ms_per_step > 0 and r.mace_ms_per_call > 0
    t100 = analysis.read_thermo(Path(results[0].folder) / "log.lammps")["Temp"][0]
    t500 = analysis.read_thermo(Path(results[1].folder) / "log.lammps")["Temp"][0]
    assert t100 == pytest.approx(100.0, rel=1e-6) and t500 == pytest.approx(500.0, rel=1e-6)


def test_structure_with_element_the_model_lacks_is_refused(gaas_model, tmp_path):
    atoms = gaas_supercell(64)
    atoms[0].symbol = "Si"
    with pytest.raises(ValueError, match=r"\['Si'\].*not trained on"):
        run_md(SCRIPTS / "md_nve.in", gaas_model, atoms, [300.0], 5, tmp_path, progress=False)
    # same for a LAMMPS data file whose masses say Si (elements inferred from masses)
    data = tmp_path / "sigaas.data"
    write_data_file(atoms, data)
    with pytest.raises(ValueError, match="Si"):
        run_md(SCRIPTS / "md_nve.in", gaas_model, data, [300.0], 5, tmp_path / "d",
               progress=False)
    assert not restart_files(tmp_path / "d" / "T300K")


def test_wrong_type_to_element_map_is_refused(gaas_model, tmp_path):
    data = tmp_path / "gaas.data"
    assert write_data_file(gaas_supercell(64), data) == ["Ga", "As"]  # type 1 Ga, type 2 As
    with pytest.raises(ValueError, match="does not match the LAMMPS masses"):
        run_md(SCRIPTS / "md_nve.in", gaas_model, data, [300.0], 5, tmp_path / "swap",
               type_to_element=["As", "Ga"], progress=False)
    with pytest.raises(ValueError, match="3 entries but LAMMPS has 2 atom types"):
        run_md(SCRIPTS / "md_nve.in", gaas_model, data, [300.0], 5, tmp_path / "len",
               type_to_element=["Ga", "As", "Ga"], progress=False)
    # the right map (or none: masses) runs
    (res,) = run_md(SCRIPTS / "md_nve.in", gaas_model, data, [300.0], 2, tmp_path / "ok",
                    type_to_element=["Ga", "As"], analyse=False, progress=False)
    assert res.final_step == 2


def test_blown_up_md_stops_lammps_with_the_callback_error(gaas_model, tmp_path):
    def nan_velocity(lmp):  # what an exploding trajectory produces
        lmp.numpy.extract_atom("v")[0, 0] = np.nan

    with pytest.raises(ValueError, match="non-finite atomic positions"):
        run_md(SCRIPTS / "md_nve.in", gaas_model, gaas_supercell(64), [300.0], 50, tmp_path,
               hooks=[nan_velocity], progress=False)
    # LAMMPS stopped at step 1 (fix halt), not after 50 steps with zero forces
    assert "met on step 1" in (tmp_path / "T300K" / "log.lammps").read_text()
    assert not restart_files(tmp_path / "T300K")


def test_script_without_fix_external_is_refused(gaas_model, tmp_path):
    text = (SCRIPTS / "md_nve.in").read_text().replace("external pf/callback", "nve")
    bad = tmp_path / "bad.in"
    bad.write_text(text)
    with pytest.raises(ValueError, match="external pf/callback"):
        run_md(bad, gaas_model, gaas_supercell(64), [300.0], 5, tmp_path, progress=False)


def test_cli_md_runs_a_series(gaas_model, tmp_path, capsys):
    from mlh_ipi.cli.main import main

    rc = main(["--threads", "1", "md", str(SCRIPTS / "md_nvt_langevin.in"), "--mace",
               str(gaas_model), "--data", str(_write_extxyz(tmp_path)), "--temps", "200", "300",
               "--steps", "10", "--out", str(tmp_path / "cli"), "--var", "dump_every", "5",
               "--var", "thermo_every", "5"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "T200K" in out and "T300K" in out and "ms/step" in out
    assert (tmp_path / "cli" / "T300K" / "analysis.json").is_file()
    assert (tmp_path / "cli" / "md_summary.json").is_file()


def _write_extxyz(tmp_path: Path) -> Path:
    import ase.io

    path = tmp_path / "gaas64.extxyz"
    ase.io.write(path, gaas_supercell(64))
    return path


# --- physics checks on cases with known answers -------------------------------------------

def _frame(atoms: Atoms, step: int = 0, velocities=None) -> analysis.DumpFrame:
    types = np.array([1 if s == "Ga" else 2 for s in atoms.get_chemical_symbols()])
    return analysis.DumpFrame(step, atoms.cell.array, np.zeros(3), np.arange(1, len(atoms) + 1),
                              types, atoms.positions, velocities)


def test_rdf_of_zincblende_has_four_neighbours_at_sqrt3_a_over_4():
    a = 5.75
    atoms = gaas_supercell(216, a=a)
    r, g = analysis.radial_distribution([_frame(atoms)], n_bins=400)
    rho = len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    shell = 4 / 3 * np.pi * ((r + dr / 2) ** 3 - (r - dr / 2) ** 3)
    first = r < 0.5 * (np.sqrt(3) / 4 * a + a / np.sqrt(2))  # between 1st and 2nd shells
    n_first = np.sum(g[first] * rho * shell[first])
    assert n_first == pytest.approx(4.0, abs=1e-9)
    assert r[np.nonzero(g)[0][0]] == pytest.approx(np.sqrt(3) / 4 * a, abs=dr)
    # partial Ga-As: all four first neighbours of Ga are As; Ga-Ga starts at a/sqrt(2)
    r_ab, g_ab = analysis.radial_distribution([_frame(atoms)], n_bins=400, types=(1, 2))
    r_aa, g_aa = analysis.radial_distribution([_frame(atoms)], n_bins=400, types=(1, 1))
    rho_b = rho / 2
    assert np.sum(g_ab[first] * rho_b * shell[first]) == pytest.approx(4.0, abs=1e-9)
    assert np.all(g_aa[r_aa < a / np.sqrt(2) - dr] == 0)


def test_vacf_and_vdos_of_harmonic_oscillators():
    dt, nu = 0.002, 7.5  # ps, THz
    t = np.arange(2000) * dt
    rng = np.random.default_rng(0)
    phases = rng.uniform(0, 2 * np.pi, size=(32, 3))
    v = np.cos(2 * np.pi * nu * t[:, None, None] + phases[None])
    vacf = analysis.velocity_autocorrelation(v, max_lag=500)
    assert vacf[0] == pytest.approx(1.0)
    np.testing.assert_allclose(vacf[:50], np.cos(2 * np.pi * nu * t[:50]), atol=0.05)
    freq, dos = analysis.vibrational_dos(vacf, dt)
    assert freq[np.argmax(dos)] == pytest.approx(nu, abs=0.2)
    assert np.trapezoid(dos, freq) == pytest.approx(1.0)


def test_energy_drift_recovers_a_known_slope():
    t = np.linspace(0, 2.0, 201)
    e = 64 * (-3.0 + 0.5e-3 * t) + 1e-4 * np.sin(40 * t)  # 0.5 meV/atom/ps
    drift = analysis.energy_drift(t, e, 64)
    assert drift["drift_mev_per_atom_per_ps"] == pytest.approx(0.5, rel=0.02)
    assert drift["duration_ps"] == pytest.approx(2.0)


@pytest.mark.slow
def test_bop_fitted_gaas_mace_gives_a_vibrating_zincblende_solid(tmp_path):
    """End to end with a physical potential (MACE trained on GaAs BOP by mace_run_train)."""
    from mlh_ipi.forcefield.classical_fit import gaas_bop_mace

    model = gaas_bop_mace(tmp_path / "gaas_bop", progress=False)
    atoms = gaas_supercell(64, a=5.65)
    (nvt,) = run_md(SCRIPTS / "md_nvt_langevin.in", model, atoms, [300.0], 1000,
                    tmp_path / "nvt", variables={"dump_every": 5}, progress=False)
    s = json.loads((Path(nvt.folder) / "analysis.json").read_text())
    assert 2.35 < s["rdf"]["first_peak_A"] < 2.55  # Ga-As bond, sqrt(3)/4 a = 2.45 A
    assert abs(s["mean_temperature_K"] - 300.0) < 60.0
    assert 1.0 < s["vdos"]["peak_THz"] < 12.0  # acoustic/optical phonons of GaAs
    (nve,) = run_md(SCRIPTS / "md_nve.in", model, atoms, [600.0], 1000, tmp_path / "nve",
                    variables={"dump_every": 5}, progress=False)
    e = json.loads((Path(nve.folder) / "analysis.json").read_text())["energy"]
    assert abs(e["drift_mev_per_atom_per_ps"]) < 0.5 and e["max_deviation_mev_per_atom"] < 1.0


def test_dump_frames_become_atoms_in_id_order(tmp_path):
    """``frame_atoms``: unsorted dump ids -> atoms in start-structure order, species by id."""
    path = tmp_path / "traj.lammpstrj"
    path.write_text(
        "ITEM: TIMESTEP\n40\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n"
        "0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n"
        "3 2 1.0 1.0 1.0\n1 1 0.5 0.0 0.0\n2 1 6.0 0.0 0.0\n")
    frame = analysis.read_dump(path)[0]
    at = analysis.frame_atoms(frame, ["Ga", "As", "O"])
    assert at.get_chemical_symbols() == ["Ga", "As", "O"] and at.info["step"] == 40
    np.testing.assert_allclose(at.positions, [[0.5, 0, 0], [1.0, 0, 0], [1.0, 1.0, 1.0]])  # 6.0 wrapped
    with pytest.raises(ValueError, match="do not fit"):
        analysis.frame_atoms(frame, ["Ga", "As"])


def test_dump_atoms_picks_steps_or_evenly_spaced_frames(tmp_path):
    """``dump_atoms``: frames by MD step (in the asked order) or ``count`` evenly spaced after a
    step; a missing step or too few frames is a clear error."""
    path = tmp_path / "traj.lammpstrj"
    path.write_text("".join(
        f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n1\nITEM: BOX BOUNDS pp pp pp\n"
        f"0 5\n0 5\n0 5\nITEM: ATOMS id type x y z\n1 1 {0.1 * k} 0 0\n"
        for k, step in enumerate(range(0, 110, 10))))
    picked = analysis.dump_atoms(path, ["Ga"], steps=[50, 20])
    assert [a.info["step"] for a in picked] == [50, 20]
    assert picked[0].positions[0, 0] == pytest.approx(0.5)
    spaced = analysis.dump_atoms(path, ["Ga"], first_step=40, count=3)
    assert [a.info["step"] for a in spaced] == [40, 70, 100]
    assert len(analysis.dump_atoms(path, ["Ga"])) == 11
    with pytest.raises(ValueError, match="no dump frame at steps \\[55\\]"):
        analysis.dump_atoms(path, ["Ga"], steps=[50, 55])
    with pytest.raises(ValueError, match="run longer MD"):
        analysis.dump_atoms(path, ["Ga"], first_step=90, count=3)
