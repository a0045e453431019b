"""On-the-fly stream: statistics, LAMMPS snapshot hook, back-pressure, online == offline, resume, levels."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.io import read, write

from mlh_ipi.calculator import MLHCalculator
from mlh_ipi.data.labelfile import read_label
from mlh_ipi.electronic.defect_levels import atom_weights, find_defect_levels
from mlh_ipi.electronic.eigen import solve
from mlh_ipi.lammps.runtime import open_lammps, potential_file
from mlh_ipi.lammps.snapshot_hook import SnapshotHook
from mlh_ipi.model.network import ModelConfig
from mlh_ipi.model.training import TrainConfig, train
from mlh_ipi.stream.outputs import summary_rows, write_report
from mlh_ipi.stream.run import stream_ipi, stream_offline
from mlh_ipi.stream.snapshots import Snapshot
from mlh_ipi.stream.sources import lammps_hook, write_snapshots_extxyz
from mlh_ipi.stream.state import ProcessedIndex, StreamState
from mlh_ipi.stream.statistics import ElectronicStatistics, RunningMoments, electronic_record
from mlh_ipi.stream.workers import SnapshotPipeline, read_snapshot_log
from mlh_ipi.structures.rattle import rattle

ROOT = Path(__file__).resolve().parents[1]
SI2 = ROOT / "tests" / "data" / "si2_cheap"
VO_LABEL = ROOT / "examples" / "sio2_vo" / "data" / "labels" / "train" / "000000.label.npz"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny MLH model of Si (10 epochs on the Si2 labels): a real model, cheap to evaluate."""
    out = tmp_path_factory.mktemp("si_mlh")
    torch.set_num_threads(1)
    train(TrainConfig(folders=(str(SI2),), output=str(out), epochs=10, batch_size=2, lr=1e-2,
                      progress=False, split=(1.0, 0.0, 0.0),
                      model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6,
                                        radial_hidden=16, hidden_irreps="8x0e+4x1o+4x1e+2x2e")))
    return out / "best.pt"


def si_md(hooks=(), steps=100, cells=1, sort_every=0):
    """Si diamond (8 atoms per cell) with Tersoff, Langevin thermostat at 600 K: tag-ordered x, v."""
    lmp = open_lammps()
    for c in ["units metal", "atom_style atomic", "boundary p p p", "atom_modify map array",
              f"atom_modify sort {sort_every} 0.0" if sort_every else "atom_modify sort 0 0.0",
              "lattice diamond 5.431", f"region box block 0 {cells} 0 {cells} 0 {cells}",
              "create_box 1 box", "create_atoms 1 box", "mass 1 28.0855", "pair_style tersoff",
              f"pair_coeff * * {potential_file('Si.tersoff')} Si",
              "velocity all create 1200 4928459 mom yes rot no dist gaussian", "timestep 0.002",
              "fix nve all nve", "fix bath all langevin 600 600 0.1 699483"]:
        lmp.command(c)
    for h in hooks:
        h(lmp)
    lmp.command(f"run {steps}")
    n = lmp.get_natoms()
    order = np.argsort(lmp.numpy.extract_atom("id")[:n])
    x = lmp.numpy.extract_atom("x")[:n][order].copy()
    v = lmp.numpy.extract_atom("v")[:n][order].copy()
    boxlo = np.array(lmp.extract_box()[0])
    lmp.close()
    return x, v, boxlo


def rattled_si(count, seed=0):
    base = bulk("Si", "diamond", a=5.431, cubic=True)
    return [rattle(base, 0.08, seed=seed + k) for k in range(count)]


# --- statistics --------------------------------------------------------------------------------------
def _records(rng, n):
    out = []
    for _ in range(n):
        vbm = rng.normal(1.0, 0.1)
        gap = rng.normal(5.0, 0.3)
        nlev = rng.integers(0, 3)
        levels = np.sort(vbm + rng.uniform(0.5, 4.5, size=nlev))
        out.append({"band_gap": gap, "vbm": vbm, "cbm": vbm + gap, "defect_levels": levels.tolist(),
                    "band_gap_committee_std": abs(rng.normal(0, 0.05))})
    return out


def test_streaming_statistics_equal_numpy_after_merge_and_checkpoint_resume(tmp_path):
    rng = np.random.default_rng(7)
    recs = _records(rng, 300)
    # three workers each see a third, merged with Chan's formula; the merged state goes through a
    # checkpoint (JSON) and a "resumed" run adds the rest
    parts = [ElectronicStatistics() for _ in range(3)]
    for k, r in enumerate(recs[:200]):
        parts[k % 3].add(r, 300, "V_O")
    merged = parts[0].merge(parts[1]).merge(parts[2])
    StreamState(stats=merged).save(tmp_path)
    resumed = StreamState.load(tmp_path).stats
    for r in recs[200:]:
        resumed.add(r, 300, "V_O")
    g = resumed.group(300, "V_O")

    gap = np.array([r["band_gap"] for r in recs])
    assert g.moments["band_gap"].n == 300
    assert g.moments["band_gap"].mean == pytest.approx(gap.mean(), rel=1e-13)
    assert g.moments["band_gap"].std() == pytest.approx(gap.std(), rel=1e-12)
    assert g.moments["band_gap"].std(ddof=1) == pytest.approx(gap.std(ddof=1), rel=1e-12)
    assert (g.moments["band_gap"].min, g.moments["band_gap"].max) == (gap.min(), gap.max())
    below = np.array([r["cbm"] - r["defect_levels"][0] for r in recs if r["defect_levels"]])
    assert g.moments["level0_below_cbm"].n == len(below)
    assert g.moments["level0_below_cbm"].mean == pytest.approx(below.mean(), rel=1e-12)
    assert g.moments["level0_below_cbm"].std() == pytest.approx(below.std(), rel=1e-12)
    spread = np.array([r["band_gap_committee_std"] for r in recs])
    assert g.moments["band_gap_committee_std"].mean == pytest.approx(spread.mean(), rel=1e-12)
    # histogram of all levels below the CBM holds every level once, in the right bins
    all_below = np.array([r["cbm"] - e for r in recs for e in r["defect_levels"]])
    edges, counts = g.hist_below_cbm.edges_and_counts()
    ref, _ = np.histogram(all_below, bins=edges)
    assert counts.sum() == len(all_below) and np.array_equal(counts, ref)
    # the summary table reports exactly these numbers
    row = summary_rows(resumed)[0]
    assert row["band_gap_std"] == pytest.approx(gap.std(), rel=1e-12)
    # merging a single value and an empty accumulator is exact
    one = RunningMoments()
    one.add(2.5)
    assert RunningMoments().merge(one).to_dict() == one.to_dict()


def test_resonant_levels_are_counted_apart_from_in_gap_levels(tmp_path):
    """A donor with p levels above the CBM (As_i-like) and one in-gap level: the resonant flags
    follow the levels through sorting, and the tables give the in-gap count and resonant fraction."""
    snaps = [  # levels deliberately unsorted; flags aligned with them
        {"band_gap": 0.40, "vbm": 1.00, "cbm": 1.40, "defect_levels": [2.1, 1.20, 1.9],
         "defect_levels_resonant": [True, False, True]},
        {"band_gap": 0.42, "vbm": 1.00, "cbm": 1.42, "defect_levels": [1.30, 2.0],
         "defect_levels_resonant": [False, True]},
        # no flags (an older client's extras): derived from the edges, so 1.45 >= CBM is resonant
        {"band_gap": 0.44, "vbm": 1.00, "cbm": 1.44, "defect_levels": [1.45, 1.25]},
    ]
    recs = [electronic_record(s) for s in snaps]
    assert recs[0]["defect_levels"] == [1.2, 1.9, 2.1]
    assert recs[0]["defect_levels_resonant"] == [False, True, True]
    assert recs[2]["defect_levels_resonant"] == [False, True]
    stats = ElectronicStatistics()
    for r in recs:
        stats.add(r, 500, "As_i")
    m = stats.group(500, "As_i").moments
    assert m["n_levels"].mean == pytest.approx(7 / 3) and m["n_in_gap"].mean == pytest.approx(1.0)
    assert m["level0_resonant"].mean == 0.0 and m["level1_resonant"].mean == 1.0
    assert m["level2_resonant"].n == 1
    # by character: in-gap 1.2/1.3/1.25 above VBM 1.0; resonant above the CBM in every snapshot
    assert m["gap_level_above_vbm"].mean == pytest.approx(0.25) and m["gap_level_above_vbm"].n == 3
    assert m["cb_level_above_cbm"].mean == pytest.approx(np.mean([1.9 - 1.4, 2.0 - 1.42, 1.45 - 1.44]))
    assert "vb_level_below_vbm" not in m
    row = summary_rows(stats)[0]
    assert row["vb_level_below_vbm_n"] == 0 and row["cb_level_above_cbm_n"] == 3
    assert row["n_in_gap_mean"] == pytest.approx(1.0)
    assert row["level0_resonant_fraction"] == 0.0 and row["level1_resonant_fraction"] == 1.0
    # resonant levels lie below the CBM by a negative amount: reported as they are, not dropped
    assert row["level1_below_cbm_mean"] == pytest.approx(np.mean([1.4 - 1.9, 1.42 - 2.0, 1.44 - 1.45]))
    state = StreamState(stats=stats)
    state.save(tmp_path / "st")
    again = StreamState.load(tmp_path / "st")
    assert summary_rows(again.stats) == summary_rows(stats)
    assert any(p.name == "defect_levels_vs_temperature.png" for p in write_report(again, tmp_path / "rep"))
    # an antisite-like occupied state just below the VBM: valence-resonant, 0.1 eV below the edge
    anti = ElectronicStatistics()
    anti.add(electronic_record({"band_gap": 0.7, "vbm": 1.0, "cbm": 1.7, "defect_levels": [0.9, 3.0],
                                "defect_levels_resonant": [True, True]}), 500, "As_Ga")
    ma = anti.group(500, "As_Ga").moments
    assert ma["vb_level_below_vbm"].mean == pytest.approx(0.1) and ma["cb_level_above_cbm"].mean == pytest.approx(1.3)
    with pytest.raises(ValueError, match="2 flags for 3 levels"):
        electronic_record({**snaps[0], "defect_levels_resonant": [True, False]})


def test_resuming_with_another_level_picking_or_model_is_refused(tmp_path):
    """Statistics of two level-picking definitions must not be pooled by a resumed run."""
    rec = _records(np.random.default_rng(5), 1)[0]
    with SnapshotPipeline(None, tmp_path, workers=0, meta={"valence_states": 128}) as pipe:
        pipe.submit_record("T300K", 0, 300, "As_i", rec)
    with pytest.raises(ValueError, match=r"valence_states: 128 -> 129"):
        SnapshotPipeline(None, tmp_path, workers=0, meta={"valence_states": 129})
    with pytest.raises(ValueError, match="model: None -> "):
        SnapshotPipeline(tmp_path / "other.pt", tmp_path, workers=0, meta={"valence_states": 128})
    # the same settings resume; the counted step is skipped, nothing is lost
    with SnapshotPipeline(None, tmp_path, workers=0, meta={"valence_states": 128}) as pipe:
        pipe.submit_record("T300K", 0, 300, "As_i", rec)
    assert StreamState.load(tmp_path).stats.n_snapshots == 1
    # a checkpoint written before the picking was recorded counts as occupation edges, no window
    state = StreamState.load(tmp_path)
    state.meta = {"mode": "lammps", "model": None}
    state.save(tmp_path)
    SnapshotPipeline(None, tmp_path, workers=0, meta={"valence_states": None, "resonance_ev": None})
    with pytest.raises(ValueError, match="resonance_ev: None -> 1.0"):
        SnapshotPipeline(None, tmp_path, workers=0, meta={"resonance_ev": 1.0})


def test_processed_index_stores_strided_runs_and_refuses_double_counting():
    idx = ProcessedIndex()
    for s in [5, 3, 4, 0, 1, 2, *range(100, 100001, 50)]:
        idx.add("run", s)
    assert idx.to_dict() == {"run": [[0, 5, 1], [100, 100000, 50]]}  # 2005 steps, two runs on disk
    assert ProcessedIndex(idx.to_dict()).to_dict() == idx.to_dict() and idx.count() == 6 + 1999
    assert ("run", 4) in idx and ("run", 150) in idx and ("run", 175) not in idx
    assert ("other", 4) not in idx
    with pytest.raises(ValueError, match="counted in both"):
        idx.merge(ProcessedIndex({"run": [[150, 160, 10]]}))


# --- the LAMMPS hook --------------------------------------------------------------------------------
def test_snapshot_hook_leaves_the_md_trajectory_bit_identical():
    steps, every = 120, 10
    x0, v0, _ = si_md(steps=steps, cells=2, sort_every=7)
    snaps = []
    hook = SnapshotHook(snaps.append, every=every)
    x1, v1, boxlo = si_md([hook], steps=steps, cells=2, sort_every=7)
    hook.raise_if_failed()
    assert np.array_equal(x0, x1) and np.array_equal(v0, v1)  # bit-identical, thermostat noise included
    assert [s.step for s in snaps] == list(range(0, steps + 1, every))
    # the copies are in tag order although LAMMPS re-sorts its atoms every 7 steps
    assert np.array_equal(snaps[-1].positions, x1 - boxlo)
    assert np.allclose(np.diag(snaps[-1].cell), 2 * 5.431) and set(snaps[-1].types) == {1}
    assert not np.array_equal(snaps[0].positions, snaps[-1].positions)  # copies, not views


# --- workers, back-pressure, online == offline --------------------------------------------------------
def test_block_policy_drops_nothing_and_online_equals_offline_extxyz_and_dump(model, tmp_path):
    kept, dump = [], tmp_path / "md.lammpstrj"

    def dump_installer(lmp):  # any installer goes in the same list: a full-precision LAMMPS dump
        lmp.command(f"dump d all custom 5 {dump} id type x y z")
        lmp.command("dump_modify d sort id format float %.17g")

    # two worker processes: results arrive out of order, the statistics do not care
    with SnapshotPipeline(model, tmp_path / "online", workers=2, maxsize=2, policy="block") as pipe:
        hook = lammps_hook(pipe, every=5, type_map=["Si"], source="si8_600K", temperature_k=600,
                           keep=kept)
        si_md([hook, dump_installer], steps=60)
        hook.raise_if_failed()
    c = pipe.state.counters
    assert c.produced == 13 and c.processed == 13 and c.dropped == 0
    assert c.blocked_s > 0  # the model is far slower than 8-atom Tersoff MD: the producer waited
    # offline: the same snapshots written to extxyz (8 decimals in Angstrom), read back, inline worker
    traj = tmp_path / "online_snaps.extxyz"
    write_snapshots_extxyz(traj, kept)
    off = stream_offline([traj], model, tmp_path / "offline", 600, workers=0, progress=False)
    a, b = pipe.state.stats.group(600, "none"), off.stats.group(600, "none")
    assert a.moments.keys() == b.moments.keys()
    for name in a.moments:
        ma, mb = a.moments[name], b.moments[name]
        assert ma.n == mb.n == 13
        assert ma.mean == pytest.approx(mb.mean, abs=1e-6), name
        assert ma.std() == pytest.approx(mb.std(), abs=1e-6), name
    # offline from the LAMMPS text dump (types -> elements by --types): same numbers to round-off
    dumped = stream_offline([dump], model, tmp_path / "offline_dump", 600, type_map=["Si"], workers=0,
                            progress=False)
    assert dumped.index.to_dict()[str(dump)] == [[0, 60, 5]]  # the dump's timesteps are the steps
    c = dumped.stats.group(600, "none")
    for name in a.moments:
        assert c.moments[name].mean == pytest.approx(a.moments[name].mean, abs=1e-8), name
        assert c.moments[name].std() == pytest.approx(a.moments[name].std(), abs=1e-8), name
    # and both equal a direct MLHCalculator evaluation of the frames
    calc = MLHCalculator(model, mode="h_only")
    gaps = []
    for s in kept:
        calc.calculate(s.to_atoms(), properties=[])
        gaps.append(calc.electronic["band_gap"])
    assert a.moments["band_gap"].mean == pytest.approx(np.mean(gaps), abs=1e-10)
    assert a.moments["band_gap"].std() == pytest.approx(np.std(gaps), abs=1e-10)
    assert sorted(r["step"] for r in read_snapshot_log(tmp_path / "online")) == list(range(0, 61, 5))


def test_drop_policy_counts_dropped_snapshots_and_md_does_not_wait(model, tmp_path):
    with SnapshotPipeline(model, tmp_path / "drop", workers=1, maxsize=1, policy="drop") as pipe:
        hook = lammps_hook(pipe, every=1, type_map=["Si"], source="si8", temperature_k=300)
        t0 = time.perf_counter()
        si_md([hook], steps=200)
        md_wall = time.perf_counter() - t0
        hook.raise_if_failed()
    c = pipe.state.counters
    assert c.produced == 201
    assert c.dropped == c.produced - c.processed > 150
    assert 1 <= c.processed <= 10 and c.blocked_s == 0.0
    assert pipe.state.stats.group(300, "none").n_snapshots == c.processed
    assert md_wall < 0.15 * 201  # 201 model evaluations (~0.2 s each) would have taken far longer


# --- checkpoint, kill, resume ----------------------------------------------------------------------
def test_killed_offline_run_resumes_from_its_checkpoint(model, tmp_path):
    frames = rattled_si(30)
    traj = tmp_path / "md.extxyz"
    write(traj, frames)
    out = tmp_path / "st"
    cmd = [sys.executable, "-m", "mlh_ipi.cli.main", "--threads", "1", "stream", "offline", str(traj),
           "--model", str(model), "--temperature", "300", "--defect", "bulk", "--out", str(out),
           "--workers", "0", "--checkpoint-every", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    ckpt, counted = out / "checkpoint.json", 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            counted = json.loads(ckpt.read_text())["counters"]["processed"]
        except (FileNotFoundError, json.JSONDecodeError):
            counted = 0
        if counted >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    before = StreamState.load(out)
    assert 3 <= before.counters.processed < 30

    state = stream_offline([traj], model, out, 300, defect="bulk", workers=0, progress=False)
    c = state.counters
    assert c.skipped == before.counters.processed                 # counted frames are not redone
    assert state.index.count(str(traj)) == 30 and state.index.to_dict()[str(traj)] == [[0, 29, 1]]
    log = read_snapshot_log(out)
    assert sorted(r["step"] for r in log) == list(range(30))      # every frame once in the log
    calc = MLHCalculator(model, mode="h_only")
    gap, cbm = [], []
    for at in read(traj, ":"):  # the file's 8-decimal positions, as the stream saw them
        calc.calculate(at, properties=[])
        gap.append(calc.electronic["band_gap"])
        cbm.append(calc.electronic["cbm"])
    g = state.stats.group(300, "bulk")
    assert g.moments["band_gap"].n == 30
    assert g.moments["band_gap"].mean == pytest.approx(np.mean(gap), abs=1e-9)
    assert g.moments["band_gap"].std() == pytest.approx(np.std(gap), abs=1e-9)
    assert g.moments["cbm"].std() == pytest.approx(np.std(cbm), abs=1e-9)
    paths = write_report(state, tmp_path / "report")
    assert {p.name for p in paths} >= {"summary.csv", "gap_vs_temperature.png", "level_histograms.png"}


# --- defect levels and i-PI extras ---------------------------------------------------------------------
def test_defect_level_picking_finds_the_oxygen_vacancy_state_in_a_dft_hamiltonian(tmp_path):
    """a-SiO2 with one O vacancy (47 atoms, DFT H and S): the Si-Si bonding state sits in the gap."""
    lab = read_label(VO_LABEL)
    si_pair = lab.info["defect_si"]
    e, c = solve(lab.hamiltonian_ha, lab.overlap)
    offsets = lab.layout.atom_offsets(lab.symbols)
    lv = find_defect_levels(e, c, lab.overlap, offsets, lab.nelectron, defect_atoms=si_pair)
    occupied = lv.levels_ev[lv.occupations == 2]
    assert len(occupied) == 1                           # one occupied level: the Si-Si bond
    assert lv.vbm_ev < occupied[0] < lv.cbm_ev and lv.gap_ev > 4.0
    k = lv.state_indices[lv.occupations == 2][0]
    w = atom_weights(c[:, [k]], lab.overlap, offsets)[0]
    assert w[si_pair].sum() > 0.3 and set(np.argsort(w)[-2:]) == set(si_pair)  # on the two Si
    # the stream gets the defect atoms from the builder's info and keeps the level per snapshot
    from ase import Atoms

    atoms = Atoms(lab.symbols, positions=lab.positions_a, cell=lab.cell_a, pbc=True, info=lab.info)
    snap = Snapshot.from_atoms(atoms, source="label", step=0, temperature_k=0, defect="V_O")
    assert snap.defect_atoms == tuple(si_pair)
    assert snap.valence_states is None and snap.resonance_ev == 0.0 and "valence_states" not in snap.to_atoms().info
    # band edges by count and a resonance window travel with the snapshot to the calculator's atoms
    counted = Snapshot.from_atoms(atoms, source="label", step=0, temperature_k=0, defect="V_O",
                                  valence_states=lab.nelectron // 2, resonance_ev=0.5)
    info = counted.to_atoms().info
    assert info["valence_states"] == lab.nelectron // 2 and info["level_resonance_ev"] == 0.5
    again = Snapshot.from_atoms(counted.to_atoms(), source="label", step=0, temperature_k=0)
    assert (again.valence_states, again.resonance_ev, again.defect_atoms) == (lab.nelectron // 2, 0.5, tuple(si_pair))
    rec = electronic_record({"band_gap": lv.gap_ev, "vbm": lv.vbm_ev, "cbm": lv.cbm_ev,
                             "defect_levels": lv.levels_ev})
    stats = ElectronicStatistics()
    stats.add(rec, 0, "V_O")
    m = stats.group(0, "V_O").moments
    assert m["level0_above_vbm"].mean == pytest.approx(occupied[0] - lv.vbm_ev)
    assert 0.5 < m["level0_above_vbm"].mean < 3.0   # a deep occupied level, ~1.5 eV above the VBM


def test_ipi_extras_feed_the_same_statistics_and_resume(tmp_path):
    """The MLH i-PI client's raw extras (i-PI's format) go into the same accumulators."""
    recs = _records(np.random.default_rng(3), 6)
    text = ""
    for k, r in enumerate(recs):
        raw = json.dumps({**r, "defect_levels_above_vbm": []})
        text += f"#EXTRAS(raw)# Step:  {k}\n" + repr({"raw": [raw]}) + "\n"
    path = tmp_path / "relax.extras_0"
    path.write_text(text)
    state = stream_ipi([path], tmp_path / "st", 300, "V_O")
    g = state.stats.group(300, "V_O")
    gaps = np.array([r["band_gap"] for r in recs])
    assert g.moments["band_gap"].n == 6 and g.moments["band_gap"].std() == pytest.approx(gaps.std())
    again = stream_ipi([path], tmp_path / "st", 300, "V_O")
    assert again.counters.skipped == 6 and again.stats.group(300, "V_O").n_snapshots == 6
    # the statistics rebuilt from the per-snapshot log equal the accumulated ones
    from mlh_ipi.cli.main import main
    from mlh_ipi.stream.run import recompute_statistics

    before = StreamState.load(tmp_path / "st").stats.to_dict()
    assert recompute_statistics(tmp_path / "st", report=False).stats.to_dict() == before  # same order: exact
    assert main(["stream", "recompute", str(tmp_path / "st")]) == 0
    (tmp_path / "st" / "snapshots.jsonl").write_text("")
    with pytest.raises(ValueError, match="the log holds 0 of the 6 counted snapshots"):
        recompute_statistics(tmp_path / "st")


def test_committee_spread_is_accumulated_next_to_the_thermal_broadening(model, tmp_path):
    """A committee folder (two members, different seeds): the per-snapshot gap spread is averaged."""
    import shutil

    folder = tmp_path / "committee"
    (folder / "member_0").mkdir(parents=True)
    shutil.copy(model, folder / "member_0" / "best.pt")
    train(TrainConfig(folders=(str(SI2),), output=str(folder / "member_1"), epochs=10, batch_size=2,
                      lr=1e-2, progress=False, split=(1.0, 0.0, 0.0), seed=1,
                      model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6,
                                        radial_hidden=16, hidden_irreps="8x0e+4x1o+4x1e+2x2e")))
    frames = rattled_si(4, seed=50)
    traj = tmp_path / "t.extxyz"
    write(traj, frames)
    state = stream_offline([traj], folder, tmp_path / "st", 450, workers=0, progress=False)
    calc = MLHCalculator(folder, mode="h_only")
    spread, gap = [], []
    for at in read(traj, ":"):
        calc.calculate(at, properties=[])
        spread.append(calc.electronic["band_gap_std"])
        gap.append(calc.electronic["band_gap"])
    m = state.stats.group(450, "none").moments
    assert np.mean(spread) > 1e-4  # the members disagree
    assert m["band_gap_committee_std"].mean == pytest.approx(np.mean(spread), abs=1e-10)
    row = summary_rows(state.stats)[0]
    assert row["band_gap_committee_std_mean"] == pytest.approx(np.mean(spread), abs=1e-10)
    assert row["band_gap_std"] == pytest.approx(np.std(gap), abs=1e-10)
    assert (tmp_path / "st" / "gap_vs_temperature.png").stat().st_size > 1000


def test_stream_md_command_attaches_the_hook_to_run_md_and_resumes(model, tmp_path):
    """``mlh-ipi stream md``: LAMMPS+MACE MD with the hook; rerunning with more steps resumes both."""
    sys.path.insert(0, str(ROOT / "tests"))
    from mace_fixtures import small_mace_model

    from mlh_ipi.cli.main import main

    mace = small_mace_model(tmp_path / "si.model", elements=("Si",), interaction_scale=0.1, r_max=4.0)
    data = tmp_path / "si8.extxyz"
    write(data, bulk("Si", "diamond", a=5.431, cubic=True))
    out = tmp_path / "run"
    args = ["--threads", "1", "stream", "md", str(ROOT / "lammps_inputs" / "md_nvt_langevin.in"),
            "--mace", str(mace), "--data", str(data), "--temps", "300", "--every", "10",
            "--model", str(model), "--defect", "bulk", "--out", str(out), "--policy", "block"]
    assert main(args + ["--steps", "30"]) == 0
    first = StreamState.load(out / "stream")
    assert first.index.to_dict() == {"T300K": [[0, 30, 10]]}  # source and T from run_md's variable T
    assert main(args + ["--steps", "60"]) == 0                  # MD resumes from restart.30
    state = StreamState.load(out / "stream")
    assert state.index.to_dict() == {"T300K": [[0, 60, 10]]}
    assert state.counters.skipped == 1                          # step 30 again at the resumed setup
    assert state.stats.group(300, "bulk").n_snapshots == 7 and state.counters.dropped == 0
    assert (out / "stream" / "summary.csv").is_file() and (out / "T300K" / "log.lammps").is_file()
    # equilibration: snapshots before --skip-steps are not counted (a new folder: a fresh MD)
    skipped = [a if a != str(out) else str(tmp_path / "eq") for a in args]
    assert main(skipped + ["--steps", "30", "--skip-steps", "20"]) == 0
    eq = StreamState.load(tmp_path / "eq" / "stream")
    assert eq.index.to_dict() == {"T300K": [[20, 30, 10]]} and eq.meta["skip_steps"] == 20


def test_a_failing_snapshot_stops_the_stream_with_the_model_error(model, tmp_path):
    """Species the model lacks: the error is counted, kept in the checkpoint and stops the producer."""
    from ase import Atoms

    bad = Atoms("SiO", positions=[[0, 0, 0], [1.6, 0, 0]], cell=[6, 6, 6], pbc=True)
    good = rattled_si(1)[0]
    pipe = SnapshotPipeline(model, tmp_path / "st", workers=0).start()
    assert pipe.submit(Snapshot.from_atoms(good, "run", 0, 300))
    assert not pipe.submit(Snapshot.from_atoms(bad, "run", 1, 300))
    with pytest.raises(RuntimeError, match="not in orbital layout"):
        pipe.submit(Snapshot.from_atoms(good, "run", 2, 300))
    with pytest.raises(RuntimeError, match="snapshot 1 of run failed"):
        pipe.close()
    saved = StreamState.load(tmp_path / "st")
    assert saved.counters.failed == 1 and saved.counters.processed == 1
    assert ("run", 1) not in saved.index and "not in orbital layout" in saved.errors[0]


def test_check_dft_matches_labels_to_snapshots_by_step_and_reports_the_gap_error(model, tmp_path):
    """Offline stream over labelled frames, then MLH vs DFT per frame through the same level picking."""
    from ase import Atoms

    from mlh_ipi.cli.main import main
    from mlh_ipi.stream.dft_check import compare_with_labels

    labels = sorted(SI2.glob("*.label.npz"))
    frames = []
    for k, p in enumerate(labels):
        lab = read_label(p)
        frames.append(Atoms(lab.symbols, positions=lab.positions_a, cell=lab.cell_a, pbc=True,
                            info={"step": 10 * k}))
    traj = tmp_path / "frames.extxyz"
    write(traj, frames)
    stream_offline([traj], model, tmp_path / "st", 300, workers=0, progress=False)
    # labels of those frames: the stored DFT labels with the frame's step put into their info
    from mlh_ipi.data.labelfile import write_label

    relabelled = []
    for k, p in enumerate(labels):
        lab = read_label(p)
        lab.info["step"] = 10 * k
        relabelled.append(write_label(tmp_path / "labels" / f"{k}", lab))
    rows, summary = compare_with_labels(tmp_path / "st", relabelled)
    calc = MLHCalculator(model, mode="h_only")
    err = []
    for at, p in zip(read(traj, ":"), labels):
        calc.calculate(at, properties=[])
        lab = read_label(p)
        e, c = solve(lab.hamiltonian_ha, lab.overlap)
        dft = find_defect_levels(e, c, lab.overlap, lab.layout.atom_offsets(lab.symbols), lab.nelectron)
        err.append(calc.electronic["band_gap"] - dft.gap_ev)
    assert [r["step"] for r in rows] == [0, 10, 20, 30]
    assert summary["band_gap"]["mae"] == pytest.approx(np.mean(np.abs(err)), abs=1e-9)
    assert summary["band_gap"]["n"] == 4 and summary["level0_below_cbm"]["n"] == 0
    # read at the states DFT classifies: with no in-gap state on either side (Si), the same gaps
    _, with_model = compare_with_labels(tmp_path / "st", relabelled, model=model)
    assert with_model["band_gap_matched"]["mae"] == pytest.approx(summary["band_gap"]["mae"], abs=1e-6)
    assert with_model["level0_above_vbm_matched"]["n"] == 0
    assert main(["stream", "check-dft", str(tmp_path / "st"), *map(str, relabelled), "--model", str(model)]) == 0
    assert (tmp_path / "st" / "dft_check_gap.png").is_file()
    lab = read_label(relabelled[0])
    lab.info["step"] = 5
    with pytest.raises(ValueError, match="no stream snapshots with step 5"):
        compare_with_labels(tmp_path / "st", [write_label(tmp_path / "odd", lab)])
    # a stream that took its edges by count: the DFT side must do the same
    nval = read_label(labels[0]).nelectron // 2
    stream_offline([traj], model, tmp_path / "st_count", 300, workers=0, progress=False, valence_states=nval)
    assert {r["valence_states"] for r in read_snapshot_log(tmp_path / "st_count")} == {nval}  # per snapshot
    with pytest.raises(ValueError, match=f"valence_states None \\(stream: {nval}\\)"):
        compare_with_labels(tmp_path / "st_count", relabelled)
    picking = {"defect_atoms": None, "valence_states": nval, "resonance_ev": 0.0}
    _, counted = compare_with_labels(tmp_path / "st_count", relabelled, level_picking=picking)
    assert counted["band_gap"]["mae"] == pytest.approx(summary["band_gap"]["mae"], abs=1e-9)  # Si: count = occupation
    assert main(["stream", "check-dft", str(tmp_path / "st_count"), *map(str, relabelled),
                 "--valence-states", str(nval)]) == 0


def test_dft_check_reads_the_level_picking_recorded_in_a_label():
    from types import SimpleNamespace

    from mlh_ipi.electronic.defect_levels import level_picking_from_info

    plain = SimpleNamespace(info={"defect_si": [3, 9]})
    assert level_picking_from_info(plain.info) == {"defect_atoms": [3, 9], "valence_states": None, "resonance_ev": 0.0}
    counted = SimpleNamespace(info={"defect_atoms": [1], "valence_states": 129, "level_resonance_ev": 1.0})
    assert level_picking_from_info(counted.info) == {"defect_atoms": [1], "valence_states": 129, "resonance_ev": 1.0}
