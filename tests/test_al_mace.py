"""Active learning of a MACE committee: config validation, and one real round at tiny scale.

The loop test runs everything for real on 8-atom Si at the cheap DFT setting of
``tests/data/make_si8_cheap.py``: 3 initial + 2 test DFT labels, a committee of
two MACE models (mace-torch), 40 steps of Langevin MD on the committee mean,
DFT labels for the flagged frames, retraining, and a resume.
"""
from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import read, write

from mlh_ipi.data.labelfile import label_files, read_label
from mlh_ipi.forcefield.committee import load_mace
from mlh_ipi.forcefield.deviation import committee_deviation
from mlh_ipi.workflows.al_mace import config_from_dict, final_committee, load_config, run_active_learning

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "al_mace"


def _tiny(tmp_path: Path, **over) -> dict:
    write(tmp_path / "si8.extxyz", bulk("Si", "diamond", a=5.43, cubic=True))
    d = {
        "workdir": "run", "committee": 2, "max_rounds": 1, "threads": 1,
        "start": {"structures": "si8.extxyz", "count": 3, "rattle_std": 0.05},
        "test": {"count": 2, "rattle_std": 0.08},
        "dft": {"ke_cutoff": 30.0, "precision": 1e-6, "conv_tol": 1e-6},
        "mace": {"r_max": 4.0, "max_num_epochs": 20},
        "md": {"temperatures_k": [500.0], "steps": 40, "sample_every": 10, "trajectories": 1},
        "selection": {"force_std_threshold": 0.010, "max_new_per_round": 2},
    }
    for k, v in over.items():
        d[k] = v
    return d


def test_config_errors_name_the_bad_key(tmp_path):
    d = _tiny(tmp_path)
    cfg = config_from_dict(d, base_dir=tmp_path)
    assert cfg.md.temperature(0) == 500.0 and cfg.selection.force_std_threshold == 0.010
    assert cfg.work == (tmp_path / "run").resolve()
    with pytest.raises(ValueError, match="temperatur"):
        config_from_dict({**d, "md": {"temperatur_k": 300.0}}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="rounds"):
        config_from_dict({**d, "rounds": 3}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="ke_cutof"):
        config_from_dict({**d, "dft": {"ke_cutof": 30.0}}, base_dir=tmp_path)
    with pytest.raises(ValueError, match="at least 2"):
        config_from_dict({**d, "committee": 1}, base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"\[start\]"):
        config_from_dict({k: v for k, v in d.items() if k != "start"}, base_dir=tmp_path)


def test_example_configs_parse():
    si8 = load_config(EXAMPLES / "si8.toml")
    assert (EXAMPLES / si8.start.structures).exists()
    gaas = load_config(EXAMPLES / "gaas.toml")
    assert gaas.md.temperature(0) < gaas.md.temperature(10)  # temperature ramp over the rounds
    assert gaas.selection.force_std_threshold == pytest.approx(0.010)
    q3 = load_config(EXAMPLES / "gaas64_q3.toml")
    assert q3.dft.pseudo_for("Ga") == "gth-pbe-q3" and q3.dft.pseudo_for("As") == "gth-pbe"
    starts = read(q3.path(q3.start.structures), index=":")
    assert [a.info["defect"] for a in starts] == ["pristine", "V_Ga", "V_As", "Ga_i", "As_i", "As_Ga"]


def test_one_round_labels_flagged_md_frames_retrains_and_resumes(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    cfg = config_from_dict(_tiny(tmp_path), base_dir=tmp_path)
    state = run_active_learning(cfg, progress=False)
    work = cfg.work

    assert state["finished"] and "max_rounds" in state["reason"] and state["round"] == 1
    rows = state["history"]
    assert [r["round"] for r in rows] == [0, 1]

    # exploration: every MD frame scored; the selection is the flagged frames (capped at 2)
    candidates = read(work / "round_000" / "candidates.extxyz", index=":")
    selected = read(work / "round_000" / "selected.extxyz", index=":")
    assert len(candidates) == 4 and rows[0]["n_candidates"] == 4
    assert 1 <= len(selected) <= 2 and rows[0]["n_selected"] == len(selected)
    assert all(f.info["max_force_std"] > 0.010 for f in selected)

    # DFT labels of exactly those frames, added to round 1's training set
    new = [read_label(f) for f in label_files(work / "labels" / "round_001")]
    assert len(new) == len(selected)
    for lab, frame in zip(new, selected):
        np.testing.assert_allclose(lab.positions_a, frame.positions, atol=1e-6)
        assert np.isfinite(lab.energy_ev) and np.abs(lab.forces_ev_per_a).max() > 0.01
    assert rows[1]["n_train"] == rows[0]["n_train"] + len(selected) == 3 + len(selected)

    # learning curve on the fixed test set: CSV (one row per round) and PNG
    with open(work / "learning_curve.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [int(r["round"]) for r in table] == [0, 1]
    assert all(float(r["force_rmse_mev_per_a"]) > 0 for r in table)
    assert (work / "learning_curve.png").stat().st_size > 10_000

    # the retrained committee agrees better on the structures it was just given
    old = load_mace(sorted((work / "round_000" / "committee").glob("member_*/mace.model")))
    retrained = load_mace(sorted((work / "round_001" / "committee").glob("member_*/mace.model")))
    before = [committee_deviation(old, lab.atoms()).max_force_std for lab in new]
    after = [committee_deviation(retrained, lab.atoms()).max_force_std for lab in new]
    assert np.mean(after) < np.mean(before), (before, after)

    # resume: a finished run is not recomputed; extending it continues from the saved state
    models = sorted(work.glob("round_*/committee/member_*/mace.model"))
    mtimes = [m.stat().st_mtime for m in models]
    t0 = time.perf_counter()
    again = run_active_learning(cfg, progress=False)
    assert again["history"] == state["history"] and time.perf_counter() - t0 < 30
    assert [m.stat().st_mtime for m in models] == mtimes
    saved = json.loads((work / "state.json").read_text())
    assert saved["round"] == 1 and saved["finished"]
    final, r = final_committee(work)
    assert r == 1 and final == sorted((work / "round_001" / "committee").glob("member_*/mace.model"))

    # interrupted while labelling round 0's selection: the state says "explore" was the last
    # finished stage and one label is missing; the rerun labels only that one, retrains nothing
    interrupted = {**saved, "round": 0, "done": ["train", "evaluate", "explore"], "finished": False}
    (work / "state.json").write_text(json.dumps(interrupted))
    missing = label_files(work / "labels" / "round_001")[-1]
    energy = read_label(missing).energy_ev
    missing.unlink()
    resumed = run_active_learning(cfg, progress=False)
    assert read_label(missing).energy_ev == pytest.approx(energy, abs=1e-6)
    assert [m.stat().st_mtime for m in models] == mtimes
    assert resumed["round"] == 1 and resumed["finished"]
    assert resumed["history"][1]["force_rmse_mev_per_a"] == pytest.approx(rows[1]["force_rmse_mev_per_a"])

    # interrupted during round 0's exploration after its trajectory finished: the rerun reads
    # the per-trajectory checkpoint instead of running the MD again, and selects the same frames
    import mlh_ipi.workflows.al_mace as al_mace

    checkpoint = work / "round_000" / "explore" / "trajectory_000.extxyz"
    assert len(read(checkpoint, index=":")) == len(candidates)
    (work / "state.json").write_text(json.dumps({**saved, "round": 0, "done": ["train", "evaluate"],
                                                 "finished": False}))
    (work / "round_000" / "candidates.extxyz").unlink()
    monkeypatch.setattr(al_mace, "committee_md", lambda *a, **k: pytest.fail("exploration MD ran again"))
    assert run_active_learning(cfg, progress=False)["finished"]
    np.testing.assert_array_equal([f.positions for f in read(work / "round_000" / "selected.extxyz", index=":")],
                                  [f.positions for f in selected])
    monkeypatch.undo()

    # a different physics/exploration setting on the same folder is refused
    changed = config_from_dict(_tiny(tmp_path, md={**_tiny(tmp_path)["md"], "steps": 80}),
                               base_dir=tmp_path)
    with pytest.raises(ValueError, match="md"):
        run_active_learning(changed, progress=False)


def test_start_labels_may_grow_on_resume_and_nothing_else_in_start_may_change(tmp_path):
    """Folders appended to start.labels join the later rounds; removing or reordering them, or any
    other [start] change, is refused (checked before anything runs)."""
    from mlh_ipi.workflows import al_common as common
    from mlh_ipi.workflows.al_mace import RESUMABLE_CHANGES, _check_added_labels

    def cfg(**start):
        d = _tiny(tmp_path)
        return config_from_dict({**d, "start": {**d["start"], **start}}, base_dir=tmp_path)

    common.start_run(cfg(labels=["a"]), RESUMABLE_CHANGES)  # records config.json
    grown = cfg(labels=["a", "b"])
    _check_added_labels(grown)
    common.start_run(grown, RESUMABLE_CHANGES)
    assert json.loads((grown.work / "config.json").read_text())["start"]["labels"] == ["a", "b"]
    for bad in (cfg(labels=["b"]), cfg(labels=["b", "a"])):
        with pytest.raises(ValueError, match="may only grow"):
            _check_added_labels(bad)
    with pytest.raises(ValueError, match="start"):
        common.start_run(cfg(labels=["a", "b"], count=4), RESUMABLE_CHANGES)


def test_cli_gives_one_line_errors_for_bad_input(tmp_path, capsys):
    from mlh_ipi.cli.main import main

    bad = tmp_path / "bad.toml"
    bad.write_text('workdir = "run"\nmax_round = 2\n[start]\nstructures = "x.extxyz"\n')
    assert main(["al-mace", str(bad)]) == 2
    assert "unknown active-learning config key(s): ['max_round']" in capsys.readouterr().err
    assert main(["train-mace", str(tmp_path / "no_labels"), "--out", str(tmp_path / "o")]) == 2
    assert "no such label file or folder" in capsys.readouterr().err
