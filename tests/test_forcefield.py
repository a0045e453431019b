"""MACE force field from project labels: export, real mace-torch training, committee, deviation.

The committee fixture trains two small MACE models (seeds 0 and 1) with
mace-torch's own ``mace_run_train`` on 8 of the 10 cheap Si8 DFT labels in
``tests/data/si8_cheap`` (about 1 min on one thread); labels 8 and 9 are held out.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlh_ipi.data.labelfile import label_files, read_label
from mlh_ipi.forcefield.committee import load_mace, species_of_model
from mlh_ipi.forcefield.deviation import (atom_force_deviation, committee_deviation,
                                          energy_deviation, flag_uncertain)
from mlh_ipi.forcefield.errors import force_field_errors
from mlh_ipi.forcefield.export import export_labels, read_reference
from mlh_ipi.forcefield.mace_training import (MACETrainingSettings, mace_arguments,
                                              train_committee, train_mace)
from mlh_ipi.structures.rattle import rattle

SI8 = Path(__file__).parent / "data" / "si8_cheap"
SIO2 = Path(__file__).parent / "data" / "sio2_tiny"
SETTINGS = MACETrainingSettings(r_max=4.0, max_num_epochs=40)


@pytest.fixture(scope="module")
def committee(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mace_si8")
    files = label_files(SI8)
    export_labels(files[:8], out / "train.extxyz")
    export_labels(files[8:], out / "test.extxyz")
    t0 = time.perf_counter()
    models = train_committee(out / "train.extxyz", out, SETTINGS, 2, seed=0, progress=False)
    return {"out": out, "models": models, "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- export

def test_export_round_trip_keeps_label_values(tmp_path):
    files = label_files(SI8)[:3]
    export_labels(files, tmp_path / "x.extxyz")
    frames, energies, forces = read_reference(tmp_path / "x.extxyz")
    assert len(frames) == 3
    for f, at, e, fo in zip(files, frames, energies, forces):
        lab = read_label(f)
        assert e == pytest.approx(lab.energy_ev, abs=1e-9)          # eV
        np.testing.assert_allclose(fo, lab.forces_ev_per_a, atol=1e-7)  # eV/Å (extxyz keeps 8 decimals)
        np.testing.assert_allclose(at.positions, lab.positions_a, atol=1e-7)
        np.testing.assert_allclose(at.cell.array, lab.cell_a, atol=1e-7)
        assert at.get_chemical_symbols() == lab.symbols
        assert at.pbc.all()
        assert at.info["label_file"] == str(f)
        assert "REF_stress" not in at.info and at.calc is None  # no stress, no calculator results


def test_export_refuses_labels_of_different_dft_settings(tmp_path):
    with pytest.raises(ValueError, match="ke_cutoff"):
        export_labels([SI8 / "000000.label.npz", SIO2 / "quartz9_s0.label.npz"], tmp_path / "x.extxyz")
    with pytest.raises(FileNotFoundError):
        export_labels([tmp_path / "nothing_here"], tmp_path / "y.extxyz")


def test_mace_arguments_are_accepted_by_mace_torchs_own_parser(tmp_path):
    from mace.tools import build_default_arg_parser

    args = mace_arguments(SETTINGS, name="m", work_dir=tmp_path, train_file=tmp_path / "t.extxyz",
                          seed=7, test_file=tmp_path / "test.extxyz")
    ns = build_default_arg_parser().parse_args(args)
    assert (ns.energy_key, ns.forces_key) == ("REF_energy", "REF_forces")
    assert ns.r_max == 4.0 and ns.seed == 7 and ns.E0s == "average" and ns.restart_latest
    assert ns.valid_fraction == pytest.approx(0.1) and ns.default_dtype == "float64"


# ---------------------------------------------------------------------------- training

def test_training_lowers_the_force_error_on_held_out_labels(committee):
    frames, energies, forces = read_reference(committee["out"] / "test.extxyz")
    for model in committee["models"]:
        err = force_field_errors(load_mace(model), frames, energies, forces)
        # the untrained starting point is ~ predicting zero forces (error = reference RMS)
        assert err["force_rmse_mev_per_a"] < 0.4 * err["force_ref_rms_mev_per_a"], err
        assert err["energy_rmse_mev_per_atom"] < 50.0, err
        # mace's own log: validation force RMSE at the end is below the initial one
        results = next((model.parent / "results").glob("*_train.txt")).read_text().splitlines()
        evals = [json.loads(line) for line in results if '"mode": "eval"' in line]
        assert evals[-1]["rmse_f"] < 0.5 * evals[0]["rmse_f"]


def test_finished_training_is_not_rerun_and_changed_settings_are_refused(committee):
    out, models = committee["out"], committee["models"]
    mtimes = [m.stat().st_mtime for m in models]
    t0 = time.perf_counter()
    again = train_committee(out / "train.extxyz", out, SETTINGS, 2, seed=0, progress=False)
    assert again == models and time.perf_counter() - t0 < 5.0
    assert [m.stat().st_mtime for m in models] == mtimes
    with pytest.raises(ValueError, match="max_num_epochs"):
        train_mace(out / "train.extxyz", out / "member_0",
                   MACETrainingSettings(r_max=4.0, max_num_epochs=41), seed=0, progress=False)


def test_a_finished_committee_moved_with_its_training_file_is_reused(committee, tmp_path):
    """Another checkout or machine: the folder and its train.extxyz moved together, so the
    recorded arguments still match (paths are compared relative to the run folder)."""
    import shutil

    moved = tmp_path / "moved"
    shutil.copytree(committee["out"], moved)
    t0 = time.perf_counter()
    again = train_committee(moved / "train.extxyz", moved, SETTINGS, 2, seed=0, progress=False)
    assert [p.parent.name for p in again] == ["member_0", "member_1"]
    assert all(p.is_relative_to(moved) for p in again) and time.perf_counter() - t0 < 5.0


# ---------------------------------------------------------------------------- committee

def test_committee_mean_is_the_mean_of_its_members(committee):
    at = read_label(label_files(SI8)[9]).atoms()
    members = []
    for m in committee["models"]:
        at.calc = load_mace(m)
        members.append((at.get_potential_energy(), at.get_forces()))
    at.calc = load_mace(committee["out"])  # the folder: its member_*/mace.model
    assert at.get_potential_energy() == pytest.approx(np.mean([e for e, _ in members]), abs=1e-8)
    np.testing.assert_allclose(at.get_forces(), np.mean([f for _, f in members], axis=0), atol=1e-10)
    assert at.calc.size == 2


def test_committee_deviation_flags_a_deliberately_distorted_structure(committee):
    calc = load_mace(committee["models"])
    host = bulk("Si", "diamond", a=5.43, cubic=True)
    # near equilibrium: fresh rattles at the 0.05 Å amplitude of half the training labels
    near = [committee_deviation(calc, rattle(host, 0.05, seed=100 + s)).max_force_std for s in range(6)]
    # deliberately distorted: 0.4 Å rattles (bonds 1.5-3.2 Å), far outside the training data
    bad = [committee_deviation(calc, rattle(host, 0.40, seed=200 + s)) for s in range(4)]
    scores = [d.max_force_std for d in bad]
    assert min(scores) > 2.0 * max(near), (scores, near)
    assert np.median(scores) > 4.0 * np.median(near), (scores, near)
    assert min(scores) > 0.010                      # above the default 10 meV/Å threshold
    assert all(d.energy_std >= 0.0 and np.isfinite(d.energy) for d in bad)
    threshold = 2.0 * max(near)                      # eV/Å
    assert flag_uncertain(near + scores, threshold) == list(range(len(near), len(near) + len(bad)))


def test_species_mismatch_is_a_clear_error(committee):
    assert species_of_model(committee["models"][0]) == ["Si"]
    gaas = bulk("GaAs", "zincblende", a=5.65)
    gaas.calc = load_mace(committee["models"])
    with pytest.raises(ValueError, match=r"covers Si only.*As, Ga"):
        gaas.get_potential_energy()
    with pytest.raises(ValueError, match="not found"):
        load_mace([committee["models"][0], committee["out"] / "missing.model"])
    with pytest.raises(ValueError, match="not found"):
        species_of_model(committee["out"] / "missing.model")


def test_two_species_model_names_its_species_and_refuses_ga(tmp_path):
    """A Si/O model (quartz labels, E0s fitted per element) asked for a Ga-containing cell."""
    torch.set_num_threads(1)
    frames = export_labels([SIO2], tmp_path / "quartz.extxyz")
    (model,) = train_committee(tmp_path / "quartz.extxyz", tmp_path, MACETrainingSettings(
        r_max=4.0, max_num_epochs=5, valid_fraction=0.25), 1, seed=0, progress=False)
    assert species_of_model(model) == ["O", "Si"]
    calc = load_mace(model)
    quartz = frames[0].copy()
    quartz.calc = calc
    assert np.isfinite(quartz.get_potential_energy()) and np.isfinite(quartz.get_forces()).all()
    ga = frames[0].copy()
    ga.symbols[0] = "Ga"
    ga.calc = calc
    with pytest.raises(ValueError, match=r"MACE model covers O, Si only; .* also has Ga"):
        ga.get_forces()


# ---------------------------------------------------------------------------- deviation maths

def test_force_deviation_is_the_rms_member_to_mean_distance():
    f = np.zeros((2, 3, 3))
    f[0, 1] = [0.3, 0.0, 0.4]      # |d| = 0.5 eV/Å from the mean (zero) for atom 1
    f[1, 1] = [-0.3, 0.0, -0.4]
    np.testing.assert_allclose(atom_force_deviation(f), [0.0, 0.5, 0.0])
    # agrees with sqrt of the sum of mace's per-component population variances
    rng = np.random.default_rng(0)
    g = rng.normal(size=(4, 5, 3))
    np.testing.assert_allclose(atom_force_deviation(g), np.sqrt(g.var(axis=0).sum(axis=-1)))
    assert energy_deviation([1.0, 3.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="two"):
        atom_force_deviation(g[:1])
    with pytest.raises(ValueError, match="two"):
        energy_deviation([1.0])


def test_selection_threshold_upper_bound_and_spread():
    scores = [0.005, 0.02, 0.5, 0.011, 2.0, 0.03, 0.04, 0.009, 0.05]
    assert flag_uncertain(scores, 0.010) == [1, 2, 3, 4, 5, 6, 8]
    assert flag_uncertain(scores, 0.010, upper=1.0) == [1, 2, 3, 5, 6, 8]
    # at most 3, spread over the flagged frames in time order: first, middle, last
    assert flag_uncertain(scores, 0.010, upper=1.0, max_count=3) == [1, 3, 8]
    assert flag_uncertain(scores, 10.0) == []
