"""MLH committee active learning: k-means initial set, balanced selection, committee spread, a tiny run."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import write

from mlh_ipi.model.committee import Committee
from mlh_ipi.units import HARTREE
from mlh_ipi.workflows.al_mlh import (balanced_selection, committee_uncertainty, config_from_dict,
                                      kmeans_pick, resumable_changes, round_robin_groups,
                                      run_active_learning, structure_descriptor)


def test_kmeans_picks_the_structure_nearest_each_cluster_centre():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 5.0], [0.0, 12.0, -6.0]])
    rows, truth = [], []
    for c, centre in enumerate(centres):
        rows.append(centre)  # the exact centre is a member
        truth.append(c)
        for axis in range(3):  # symmetric satellites: the cluster mean is the centre
            step = np.zeros(3)
            step[axis] = rng.uniform(0.5, 1.0)
            rows += [centre + step, centre - step]
            truth += [c, c]
    order = rng.permutation(len(rows))
    x = np.array(rows)[order]
    truth = np.array(truth)[order]
    picked = kmeans_pick(x, 3, seed=0)
    assert len(picked) == 3 and len(set(picked)) == 3
    assert sorted(truth[picked]) == [0, 1, 2]  # one per cluster
    for p in picked:
        assert np.linalg.norm(x[p] - centres, axis=1).min() < 1e-12  # the centre itself
    assert kmeans_pick(x, 3, seed=0) == picked  # fixed seed, same choice
    assert kmeans_pick(x[:2], 5) == [0, 1]


def test_balanced_selection_round_robin_highest_first():
    scores = [0.9, 0.1, 0.5, 0.8, 0.7, 0.6, 0.3, 0.2, 0.95, 0.4, 0.05]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "a", "b"]
    sel = balanced_selection(scores, groups, count=6, threshold=0.15)
    picked_groups = [groups[i] for i in sel]
    assert {g: picked_groups.count(g) for g in "abc"} == {"a": 2, "b": 2, "c": 2}
    by_group = {g: [scores[i] for i in sel if groups[i] == g] for g in "abc"}
    assert by_group == {"a": [0.9, 0.5], "b": [0.8, 0.7], "c": [0.95, 0.3]}
    assert sel[:3] == [8, 0, 3]  # first pass: each group's top structure, most uncertain first
    # fewer picks than groups: the groups holding the most uncertain structures win
    assert balanced_selection(scores, groups, count=2, threshold=0.15) == [8, 0]
    # below-threshold structures are never picked, even when a group runs dry
    sel = balanced_selection(scores, groups, count=20, threshold=0.15)
    assert set(sel) == {i for i, s in enumerate(scores) if s > 0.15}
    assert balanced_selection(scores, groups, count=5, threshold=1.0) == []


def test_round_robin_groups_spreads_the_test_set():
    groups = ["x"] * 10 + ["y"] * 3 + ["z"] * 5
    sel = round_robin_groups(groups, 6, seed=3)
    assert sorted(groups[i] for i in sel) == ["x", "x", "y", "y", "z", "z"]
    assert round_robin_groups(groups, 6, seed=3) == sel


def test_descriptor_is_per_atom_and_invariant():
    host = bulk("GaAs", "zincblende", a=5.75, cubic=True)
    d = structure_descriptor(host, ["As", "Ga"], r_max=5.0)
    big = host.repeat((2, 1, 1))
    assert np.allclose(structure_descriptor(big, ["As", "Ga"], r_max=5.0), d, atol=1e-12)
    perm = host[np.random.default_rng(1).permutation(len(host))]
    perm.positions += [0.3, -1.1, 2.0]
    assert np.allclose(structure_descriptor(perm, ["Ga", "As"], r_max=5.0), d, atol=1e-12)
    # As-Ga pairs: 4 nearest neighbours per atom at sqrt(3)/4 a = 2.49 Å, i.e. 2 pairs per atom
    n = len(d) // 3
    grid = np.arange(0.05, 5.0, 0.1)
    as_ga = d[n:2 * n][grid < 3.0]  # pairs in order As-As, As-Ga, Ga-Ga
    assert np.sum(as_ga) * 0.1 / (np.sqrt(2 * np.pi) * 0.1) == pytest.approx(2.0, rel=1e-3)
    rattled = host.copy()
    rattled.rattle(0.1, seed=0)
    assert not np.allclose(structure_descriptor(rattled, ["As", "Ga"], r_max=5.0), d, atol=1e-3)


# ---------------------------------------------------------------------------- a tiny real run

def _pool(path: Path) -> None:
    frames = []
    for t, std in ((100, 0.03), (300, 0.06)):
        for k in range(5):
            at = bulk("Si", "diamond", a=5.43)
            at.rattle(std, seed=100 * t + k)
            at.info.update({"defect": "pristine", "temperature_k": float(t)})
            frames.append(at)
    write(path, frames, format="extxyz")


def _config(tmp: Path, max_rounds: int):
    return config_from_dict({
        "workdir": "al", "pool": "pool.extxyz", "committee": 2, "max_rounds": max_rounds,
        "initial": {"count": 2, "r_max": 5.0}, "test": {"count": 2, "seed": 7},
        "selection": {"per_round": 2, "threshold_ev": 0.0},
        "dft": {"ke_cutoff": 30.0, "precision": 1e-6, "conv_tol": 1e-8, "smearing": 0.1},
        "model": {"cutoff_h": 6.0, "cutoff_mp": 4.0, "num_layers": 1, "num_basis": 6,
                  "radial_hidden": 16, "hidden_irreps": "8x0e+4x1o+4x1e+2x2e"},
        "training": {"epochs": 5, "lr": 1e-2, "batch_size": 2, "split": [1.0, 0.0, 0.0]},
    }, base_dir=tmp)


@pytest.fixture(scope="module")
def al_run(tmp_path_factory):
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("al_mlh")
    _pool(tmp / "pool.extxyz")
    first = run_active_learning(_config(tmp, max_rounds=1), progress=False)
    return tmp, first


def test_al_round_grows_the_training_set_balanced_and_resumes(al_run):
    tmp, first = al_run
    work = tmp / "al"
    assert first["finished"] and first["round"] == 1
    assert [h["n_train"] for h in first["history"]] == [2, 4]
    assert len(first["test"]) == 2 and len(first["initial"]) == 2
    picked = first["selected"]["1"]
    assert len(picked) == 2 and not set(picked) & set(first["test"] + first["initial"])
    # one new structure from each temperature group, the highest committee spread in each
    rows = (work / "round_000" / "uncertainty.csv").read_text().splitlines()[1:]
    table = [r.split(",") for r in rows]
    for group in {r[1] for r in table}:
        mine = [(float(r[2]), int(r[0]), int(r[3])) for r in table if r[1] == group]
        best = max(mine)
        assert best[2] == 1 and sum(m[2] for m in mine) == 1
    assert (work / "learning_curve.png").stat().st_size > 1000
    assert "test_gap_mae_mev" in (work / "learning_curve.csv").read_text()
    for row in first["history"]:
        assert row["test_h_mae_mev"] > 0 and np.isfinite(row["test_gap_mae_mev"])

    # resume: a rerun with a higher cap continues from round 1, relabels nothing
    stamps = {p: p.stat().st_mtime_ns for p in (work / "labels").rglob("*.label.npz")}
    second = run_active_learning(_config(tmp, max_rounds=2), progress=False)
    assert second["round"] == 2 and [h["n_train"] for h in second["history"]] == [2, 4, 6]
    for p, t in stamps.items():
        assert p.stat().st_mtime_ns == t
    assert second["history"][:1] == first["history"][:1]
    assert json.loads((work / "state.json").read_text())["round"] == 2
    with pytest.raises(ValueError, match="another configuration"):
        cfg = _config(tmp, max_rounds=2)
        run_active_learning(cfg.__class__(**{**cfg.__dict__, "committee": 3}), progress=False)


def test_model_training_and_extra_labels_may_change_until_the_first_committee_is_trained(tmp_path):
    from mlh_ipi.workflows.al_common import check_config

    work = tmp_path / "al"
    work.mkdir()
    config = _config(tmp_path, max_rounds=1).to_dict()
    check_config(work, config, resumable_changes(work))  # labels made, no committee yet
    changed = {**config, "model": {**config["model"], "num_basis": 8},
               "training": {**config["training"], "epochs": 9},
               "initial": {**config["initial"], "labels": ["more_labels"]}}
    check_config(work, changed, resumable_changes(work))
    with pytest.raises(ValueError, match="differs in \\['initial'\\]"):  # the k-means pick is fixed
        check_config(work, {**changed, "initial": {**changed["initial"], "count": 99}}, resumable_changes(work))
    (work / "round_000" / "committee").mkdir(parents=True)  # training started
    with pytest.raises(ValueError, match="differs in \\['model'\\]"):
        check_config(work, {**changed, "model": config["model"]}, resumable_changes(work))
    with pytest.raises(ValueError, match="committee"):
        check_config(work, {**changed, "committee": 3}, resumable_changes(work))
    with pytest.raises(ValueError, match="differs in \\['initial'\\]"):
        check_config(work, {**changed, "initial": config["initial"]}, resumable_changes(work))


def test_uncertainty_is_the_numpy_std_over_members(al_run):
    tmp, _ = al_run
    committee = Committee.load(tmp / "al" / "round_001" / "committee")
    at = bulk("Si", "diamond", a=5.43)
    at.rattle(0.05, seed=11)
    graph = committee.graph(at.get_chemical_symbols(), at.positions, at.cell.array)
    members = np.stack([m.predict_gamma(graph) for m in committee.members])
    expected = np.std(members, axis=0).max() * HARTREE
    assert committee_uncertainty(committee, at) == pytest.approx(expected, rel=1e-6)
    assert expected > 0


def test_existing_label_folders_join_every_training_set(al_run):
    from dataclasses import replace

    from mlh_ipi.workflows.al_mlh import _training_dirs

    tmp, _ = al_run
    cfg = _config(tmp, max_rounds=1)
    cfg = replace(cfg, initial=replace(cfg.initial, labels=("al/labels/round_001",)))
    dirs = _training_dirs(cfg, tmp / "al", 0)
    assert dirs == [tmp / "al" / "labels" / "initial", (tmp / "al" / "labels" / "round_001").resolve()]


def test_excluded_pool_frames_are_never_selected(al_run, tmp_path):
    """``selection.exclude`` (frames another check holds out) leaves the scoring pool; the rest of
    the selection is unchanged, and an index outside the pool is a clear error."""
    from dataclasses import replace

    from mlh_ipi.workflows.al_mlh import _pool as read_pool
    from mlh_ipi.workflows.al_mlh import _Stages

    tmp, first = al_run
    cfg = _config(tmp, max_rounds=1)
    pool = read_pool(cfg)
    committee = Committee.load(tmp / "al" / "round_000" / "committee")
    base = {"test": first["test"], "initial": first["initial"]}

    state = {**base, "selected": {}}
    stats = _Stages(cfg, tmp_path / "plain", False, state, pool).select(0, committee)
    picked = state["selected"]["1"]
    assert sorted(picked) == sorted(first["selected"]["1"]) and stats["pool_unlabelled"] == 6

    held = replace(cfg, selection=replace(cfg.selection, exclude=tuple(picked)))
    state = {**base, "selected": {}}
    stats = _Stages(held, tmp_path / "held", False, state, pool).select(0, committee)
    assert len(state["selected"]["1"]) == 2 and not set(state["selected"]["1"]) & set(picked)
    assert stats["pool_unlabelled"] == 4
    rows = (tmp_path / "held" / "round_000" / "uncertainty.csv").read_text().splitlines()[1:]
    assert {int(r.split(",")[0]) for r in rows}.isdisjoint(picked)

    assert "selection.exclude" in resumable_changes(tmp / "al")
    with pytest.raises(ValueError, match="outside the pool"):
        run_active_learning(replace(cfg, selection=replace(cfg.selection, exclude=(99,))), progress=False)
    assert config_from_dict({**cfg.to_dict(), "selection": {"exclude": [3, 4]}},
                            base_dir=tmp).selection.exclude == (3, 4)


def test_warm_start_continues_each_member_from_its_own_previous_round(al_run, tmp_path):
    """``warm_start``: round 1's member k starts from round 0's member k (its weights, not fresh ones),
    so the members stay distinct; without round 0's models it is a clear error."""
    import shutil
    from dataclasses import replace

    from mlh_ipi.workflows.al_mlh import _train

    tmp, _ = al_run
    work = tmp_path / "al"
    shutil.copytree(tmp / "al", work)
    shutil.rmtree(work / "round_001" / "committee")
    cfg = replace(_config(tmp, max_rounds=1), warm_start=True, training={
        **_config(tmp, max_rounds=1).training, "epochs": 1, "lr": 1e-9})
    out = _train(cfg, work, 1, progress=False)
    before = [torch.load(work / "round_000" / "committee" / m / "best.pt", weights_only=False)["state_dict"]
              for m in ("member_00", "member_01")]
    after = [torch.load(out / m / "best.pt", weights_only=False)["state_dict"] for m in ("member_00", "member_01")]
    for k in range(2):
        metrics = json.loads((out / f"member_{k:02d}" / "metrics.json").read_text())
        assert metrics["train_config"]["init_from"].endswith(f"round_000/committee/member_{k:02d}/best.pt")
        for name, w in before[k].items():  # lr ~ 0: one epoch leaves the inherited weights in place
            assert torch.allclose(after[k][name], w, atol=1e-6), name
    assert any(not torch.allclose(before[0][n], before[1][n]) for n in before[0])  # distinct lineages
    assert "warm_start" in resumable_changes(work)
    shutil.rmtree(work / "round_000" / "committee" / "member_01")
    shutil.rmtree(out)
    with pytest.raises(FileNotFoundError, match="warm_start"):
        _train(cfg, work, 1, progress=False)
