"""Batch labelling: progress to disk, failures recorded without stopping, resume after a kill."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk
from ase.io import write

from mlh_ipi.data.labelfile import label_files, read_label
from mlh_ipi.data.labelling import FAILURES, label_batch
from mlh_ipi.dft.settings import DFTSettings

CHEAP = DFTSettings(ke_cutoff=30.0, precision=1e-6, conv_tol=1e-7)


def _frames(n=3):
    frames = []
    for k in range(n):
        at = bulk("Si", "diamond", a=5.43)
        at.rattle(0.03, seed=k)
        frames.append(at)
    return frames


def test_failures_are_recorded_and_the_batch_goes_on(tmp_path):
    bad_nan = bulk("Si", "diamond", a=5.43)
    bad_nan.positions[1, 0] = np.nan
    bad_element = Atoms("SiU", positions=[[0, 0, 0], [1.4, 1.4, 1.4]], cell=[5.43] * 3, pbc=True)
    frames = [_frames(1)[0], bad_nan, bad_element]
    report = label_batch(frames, tmp_path, CHEAP, progress=False)
    assert report.done == [0] and sorted(report.failed) == [1, 2]
    lines = [json.loads(x) for x in (tmp_path / FAILURES).read_text().splitlines()]
    assert [x["index"] for x in lines] == [1, 2]
    assert "NaN" in lines[0]["reason"] and "U" in lines[1]["reason"]
    # a rerun skips the finished label and the recorded failures
    again = label_batch(frames, tmp_path, CHEAP, progress=False)
    assert again.done == [] and again.skipped == [0, 1, 2]
    # changing the physics settings against the same folder is refused
    try:
        label_batch(frames, tmp_path, CHEAP.with_(ke_cutoff=40.0), progress=False)
    except ValueError as err:
        assert "ke_cutoff" in str(err)
    else:
        raise AssertionError("settings change was not refused")


def test_reverse_order_shares_a_folder_without_renaming(tmp_path):
    """A second process walking last-first skips what the first finished; file i is frame i."""
    frames = _frames(3)
    first = label_batch(frames, tmp_path, CHEAP, progress=False, order=[0])
    assert first.done == [0]
    second = label_batch(frames, tmp_path, CHEAP, progress=False, order=range(2, -1, -1))
    assert second.done == [2, 1] and second.skipped == [0]
    for f in label_files(tmp_path):
        lab = read_label(f)
        k = lab.info["source_index"]
        assert f.name.startswith(f"{k:06d}")
        np.testing.assert_allclose(lab.atoms().positions, frames[k].positions, atol=1e-10)


def test_a_structure_claimed_by_another_live_process_is_waited_for_then_taken_over(tmp_path):
    """Two labellers on one folder never compute one structure twice; a dead one's claim is taken over."""
    import socket
    import threading

    frames = _frames(3)
    label_batch(frames[:1], tmp_path / "seed", CHEAP, progress=False)
    template = read_label(label_files(tmp_path / "seed")[0])
    computed = []

    def fake(atoms, settings, dm0=None):  # the template's data at this structure's positions
        computed.append(len(computed))
        return dataclasses.replace(template, positions_a=atoms.positions.copy())

    other = subprocess.Popen(["sleep", "60"])  # stands in for a second labeller holding structure 1
    try:
        (tmp_path / "000001.claim").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))
        threading.Timer(0.5, lambda: (other.kill(), other.wait())).start()  # reaped: no zombie pid
        t0 = time.perf_counter()
        report = label_batch(frames, tmp_path, CHEAP, progress=False, labeller=fake, poll_s=0.05)
    finally:
        other.kill()
        other.wait()
    assert report.done == [0, 2, 1]  # 1 was skipped while claimed, then taken over
    assert time.perf_counter() - t0 >= 0.4
    assert not list(tmp_path.glob("*.claim"))
    # a claim whose holder finishes the label: the waiting process counts it as done elsewhere
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "000003.claim").write_text(json.dumps({"pid": other.pid, "host": socket.gethostname()}))

        def finish():
            (tmp_path / "000003.label.npz").write_bytes((tmp_path / "000000.label.npz").read_bytes())
            (tmp_path / "000003.claim").unlink()

        threading.Timer(0.3, finish).start()
        more = label_batch(frames + frames[:1], tmp_path, CHEAP, progress=False, labeller=fake, poll_s=0.05)
    finally:
        other.kill()
        other.wait()
    assert more.done == [] and more.skipped == [0, 1, 2, 3] and len(computed) == 3


def test_a_changed_input_list_is_refused_and_nothing_is_overwritten(tmp_path):
    """Labels are found by index: an input list that changed under a folder must not reuse them."""
    frames = _frames(3)
    label_batch(frames[:2], tmp_path, CHEAP, progress=False)
    before = {f.name: f.read_bytes() for f in label_files(tmp_path)}

    def refuse(atoms, settings, dm0=None):
        raise AssertionError("nothing may be labelled")

    for changed in ([frames[1], frames[0], frames[2]],  # reordered
                    [frames[0], frames[2]]):            # another frame at index 1
        with pytest.raises(ValueError, match=r"label\(s\) \[\d"):
            label_batch(changed, tmp_path, CHEAP, progress=False, labeller=refuse)
    assert {f.name: f.read_bytes() for f in label_files(tmp_path)} == before
    # the same frames again, wrapped into the cell and with text round-off, are the same structures
    same = [f.copy() for f in frames[:2]]
    for at in same:
        at.positions += at.cell[0]
        at.positions = np.round(at.positions, 7)
    report = label_batch(same, tmp_path, CHEAP, progress=False, labeller=refuse)
    assert report.skipped == [0, 1]


def test_a_per_structure_density_guess_starts_the_scf_and_a_failing_one_falls_back(tmp_path):
    """density_guess(atoms) is the SCF start of that structure (instead of the species warm
    start), recorded in info["scf_guess"]; a guess that raises falls back, and the label is made.
    (What a model's density saves in SCF cycles: benchmarks/scf_guess.py.)"""
    from mlh_ipi.dft.label import label

    frames = _frames(2)
    starts = []

    def spy(atoms, settings, dm0=None):
        starts.append(dm0)
        return label(atoms, settings, dm0=dm0)

    plain = label_batch(frames, tmp_path / "plain", CHEAP, progress=False, labeller=spy)
    assert plain.done == [0, 1] and starts[0] is None and starts[1] is not None  # species warm start
    ref = [read_label(f) for f in label_files(tmp_path / "plain")]
    assert [r.info["scf_guess"] for r in ref] == ["atomic", "same_species"]

    guesses = {k: r.density_matrix.astype(float) for k, r in enumerate(ref)}
    for k, at in enumerate(frames):
        at.info["k"] = k
    starts.clear()
    label_batch(frames, tmp_path / "guessed", CHEAP, progress=False, labeller=spy,
                density_guess=lambda atoms: guesses[atoms.info["k"]])
    assert all(np.array_equal(s, guesses[k]) for k, s in enumerate(starts))
    guessed = [read_label(f) for f in label_files(tmp_path / "guessed")]
    assert [g.info["scf_guess"] for g in guessed] == ["density_guess"] * 2
    for r, again in zip(ref, guessed):  # the converged SCF does not depend on its start
        assert again.energy_ev == pytest.approx(r.energy_ev, abs=1e-4)

    def broken(atoms):
        raise RuntimeError("no model")

    starts.clear()
    report = label_batch(frames[:1], tmp_path / "fallback", CHEAP, progress=False, labeller=spy,
                         density_guess=broken)
    assert report.done == [0] and starts == [None]
    assert read_label(label_files(tmp_path / "fallback")[0]).info["scf_guess"] == "atomic"


def test_cli_batch_resumes_after_being_killed(tmp_path):
    src = tmp_path / "frames.extxyz"
    write(src, _frames(3))
    out = tmp_path / "labels"
    cmd = [sys.executable, "-m", "mlh_ipi.cli.main", "label", str(src), "--out", str(out),
           "--ke-cutoff", "30", "--settings", str(tmp_path / "s.json")]
    (tmp_path / "s.json").write_text(json.dumps({"precision": 1e-6, "conv_tol": 1e-7}))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while not label_files(out) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = label_files(out)
    assert 1 <= len(first) < 3, "kill the batch after the first label"
    mtimes = {p.name: p.stat().st_mtime for p in first}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    files = label_files(out)
    assert [p.name for p in files] == ["000000.label.npz", "000001.label.npz", "000002.label.npz"]
    assert all(p.stat().st_mtime == mtimes[p.name] for p in first)  # not redone
    assert "already done" in done.stdout
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no half-written files
    assert read_label(files[2]).natoms == 2


def test_scf_starts_from_the_last_density_of_the_same_species_list(tmp_path):
    """Within a batch and from earlier label folders; the label does not depend on the guess."""
    from mlh_ipi.dft.label import label

    seen = []

    def recording(atoms, settings, dm0=None):
        seen.append(None if dm0 is None else dm0.shape)
        return label(atoms, settings, dm0=dm0)

    si = _frames(2)
    sic = bulk("SiC", "zincblende", a=4.36)
    label_batch([si[0], sic, si[1]], tmp_path / "a", CHEAP, progress=False, labeller=recording)
    assert seen == [None, None, (8, 8)]  # the SiC cell in between does not break the Si chain
    label_batch([si[1]], tmp_path / "cold", CHEAP, progress=False)
    warm, cold = read_label(label_files(tmp_path / "a")[2]), read_label(label_files(tmp_path / "cold")[0])
    assert abs(warm.energy_ev - cold.energy_ev) < 1e-5
    np.testing.assert_allclose(warm.forces_ev_per_a, cold.forces_ev_per_a, atol=1e-3)

    guesses = []

    def refuse(atoms, settings, dm0=None):  # only the guess matters here
        guesses.append(dm0)
        raise RuntimeError("not labelled")

    label_batch([si[1], sic], tmp_path / "b", CHEAP, progress=False, labeller=refuse,
                guess_from=[tmp_path / "a", tmp_path / "cold"])
    sic_label = read_label(label_files(tmp_path / "a")[1])
    np.testing.assert_allclose(guesses[0], cold.density_matrix)  # the last Si density (folder order)
    np.testing.assert_allclose(guesses[1], sic_label.density_matrix)


def test_compact_batch_feeds_exports_and_scf_guesses_like_full_labels(tmp_path):
    """A compact folder is a drop-in: MACE export and the next batch's SCF guess read it."""
    from mlh_ipi.forcefield.export import export_labels

    frames = _frames(2)
    label_batch(frames, tmp_path / "full", CHEAP, progress=False)
    label_batch(frames, tmp_path / "compact", CHEAP, progress=False, compact=True)
    full, compact = label_files(tmp_path / "full"), label_files(tmp_path / "compact")
    assert sum(f.stat().st_size for f in compact) * 5 < sum(f.stat().st_size for f in full)
    a = export_labels([tmp_path / "full"], tmp_path / "full.extxyz")
    b = export_labels([tmp_path / "compact"], tmp_path / "compact.extxyz")
    for x, y in zip(a, b):  # two SCF runs of one structure: equal to round-off
        assert x.info["REF_energy"] == pytest.approx(y.info["REF_energy"], abs=1e-8)
        np.testing.assert_allclose(x.arrays["REF_forces"], y.arrays["REF_forces"], atol=1e-6)

    guesses = []

    def refuse(atoms, settings, dm0=None):
        guesses.append(dm0)
        raise RuntimeError("not labelled")

    label_batch(frames[:1], tmp_path / "next", CHEAP, progress=False, labeller=refuse,
                guess_from=[tmp_path / "compact"])
    last = read_label(full[-1])
    np.testing.assert_allclose(guesses[0], last.density_matrix, atol=5e-3)  # 30 Ha, conv_tol 1e-7
