"""i-PI coupling through a real i-PI server: relaxation, extras, dead server, bad input.

The DFT engine at a cheap setting keeps these fast; the MLH engine goes through
the same plugin (see test_ipi_mlh.py).
"""
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from mlh_ipi.ipi.inputs import geop_xml, read_raw_extras
from mlh_ipi.ipi.pes import MLHDriver
from mlh_ipi.ipi.relax import relax_with_ipi

CHEAP = {"ke_cutoff": 30, "precision": 1e-6, "conv_tol": 1e-8}
PES_FILE = str(Path(__import__("mlh_ipi.ipi.pes", fromlist=["x"]).__file__))
BIN = Path(sys.prefix) / "bin"


@pytest.fixture()
def cheap_settings(tmp_path):
    path = tmp_path / "cheap.json"
    path.write_text(json.dumps(CHEAP))
    return path


def _si2(shift=(0.1, 0.05, 0.0)):
    at = bulk("Si", "diamond", a=5.43)
    at.positions[0] += shift
    return at


def test_relaxation_through_ipi_reaches_a_minimum_and_writes_extras(tmp_path, cheap_settings):
    res = relax_with_ipi(_si2(), tmp_path / "relax", engine="dft", settings_json=str(cheap_settings),
                         fmax_ev_per_a=0.02, max_steps=40)
    assert res.converged and res.fmax_ev_per_a <= 0.02
    assert res.energies_ev[-1] < res.energies_ev[0] - 0.1  # the displaced atom relaxed back
    extras = read_raw_extras(tmp_path / "relax" / "relax.extras_0")
    assert len(extras) == res.steps and extras[-1]["band_gap"] > 0
    assert {"vbm", "cbm", "band_gap"} <= set(extras[-1])
    assert (tmp_path / "relax" / "scf_density.npz").exists()  # the DFT client's guess for a resumed run
    # resume: a finished relaxation is not redone
    t0 = time.perf_counter()
    again = relax_with_ipi(_si2(), tmp_path / "relax", engine="dft", settings_json=str(cheap_settings))
    assert again.energy_ev == res.energy_ev and time.perf_counter() - t0 < 1.0


def _start_server(tmp_path, atoms, max_steps=1000):
    address = f"t{uuid.uuid4().hex[:8]}"
    write(tmp_path / "init.extxyz", atoms)
    (tmp_path / "input.xml").write_text(geop_xml("init.extxyz", address, max_steps=max_steps,
                                                 fmax_ev_per_a=1e-4))
    server = subprocess.Popen([str(BIN / "i-pi"), "input.xml"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = Path("/tmp/ipi_" + address)
    deadline = time.time() + 60
    while not sock.exists():
        assert server.poll() is None and time.time() < deadline, "i-PI did not start"
        time.sleep(0.1)
    return server, address


def _steps_written(path):
    return path.exists() and any(ln.strip() and not ln.startswith("#") for ln in path.read_text().splitlines())


@pytest.mark.parametrize("client", ["mlh-ipi serve", "stock i-pi-py_driver"])
def test_client_exits_within_seconds_when_server_is_killed(tmp_path, cheap_settings, client):
    server, address = _start_server(tmp_path, _si2())
    template = tmp_path / "init.extxyz"
    if client == "mlh-ipi serve":
        cmd = [sys.executable, "-m", "mlh_ipi.cli.main", "serve", "--engine", "dft", "--settings",
               str(cheap_settings), "--template", str(template), "--unix", address]
    else:
        cmd = [str(BIN / "i-pi-py_driver"), "-m", "custom", "-P", PES_FILE, "-u", "-a", address,
               "-o", f"template={template},engine=dft,settings={cheap_settings}"]
    out = tmp_path / "client.log"
    with open(out, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1"))
        try:
            deadline = time.time() + 120  # wait until i-PI has received a first result
            while not _steps_written(tmp_path / "relax.out") and time.time() < deadline:
                assert proc.poll() is None, out.read_text()
                time.sleep(0.2)
            server.send_signal(signal.SIGKILL)
            server.wait()
            t_kill = time.time()
            rc = proc.wait(timeout=30)
            elapsed = time.time() - t_kill
        finally:
            for p in (proc, server):
                if p.poll() is None:
                    p.kill()
    text = out.read_text()
    assert rc != 0 and elapsed < 10 + 20, (elapsed, text)  # at most one SCF step to finish, then exit
    assert "closed the connection" in text or "connection lost" in text, text


def test_wrong_atom_count_is_rejected_before_computing(tmp_path, cheap_settings):
    template = tmp_path / "t.extxyz"
    write(template, _si2())
    drv = MLHDriver(str(template), engine="dft", settings=str(cheap_settings))
    cell = np.eye(3) * 10.0
    with pytest.raises(ValueError, match="sent 3 atoms but the template"):
        drv.compute_structure(cell, np.zeros((3, 3)))
    pos = np.zeros((2, 3))
    pos[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        drv.compute_structure(cell, pos)


def test_unknown_engine_and_missing_model_are_clear_errors(tmp_path):
    template = tmp_path / "t.extxyz"
    write(template, _si2())
    with pytest.raises(ValueError, match="engine must be"):
        MLHDriver(str(template), engine="vasp")
    with pytest.raises(ValueError, match="needs model"):
        MLHDriver(str(template), engine="mlh")


def test_progress_is_logged_once_per_new_optimiser_step(tmp_path, caplog):
    from mlh_ipi.ipi.relax import _report_progress

    out = tmp_path / "relax.out"
    out.write_text("# column   1     --> step\n    0.0   -10.5\n")
    with caplog.at_level("INFO", logger="mlh_ipi.ipi.relax"):
        seen = _report_progress(tmp_path, "mlh")
        seen = _report_progress(tmp_path, "mlh", seen)  # no new step: silent
        out.write_text(out.read_text() + "    1.0   -10.75\n")
        seen = _report_progress(tmp_path, "mlh", seen)
    lines = [r.getMessage() for r in caplog.records]
    assert seen == 2
    assert len(lines) == 2 and lines[1].endswith("step 1, E = -10.750000 eV")
    assert _report_progress(tmp_path / "missing", "mlh", 5) == 5


def test_interrupted_segment_wall_time_survives_a_copy_of_the_folder(tmp_path):
    """A relaxation folder carried to another checkout has fresh file times; the segment's
    wall time comes from the ``elapsed.json`` the run kept writing, not from those times."""
    from mlh_ipi.ipi.relax import ELAPSED, _segment_wall_s

    (tmp_path / "input.xml").write_text("<simulation/>")
    out = tmp_path / "relax.out"
    out.write_text("# step potential\n0 -1.0\n")
    now = 1.7e9
    os.utime(tmp_path / "input.xml", (now, now))
    os.utime(out, (now + 5.0, now + 5.0))  # as a copy leaves them: seconds apart
    assert _segment_wall_s(tmp_path, out) == pytest.approx(5.0)  # fallback: file times
    (tmp_path / ELAPSED).write_text('{"wall_s": 3600.5}')
    assert _segment_wall_s(tmp_path, out) == pytest.approx(3600.5)


def test_a_finished_relaxation_folder_that_moved_still_finds_its_final_structure(tmp_path):
    """result.json stores the path of final.extxyz; after the folder moves (another checkout)
    the result is read from the file next to it."""
    from mlh_ipi.ipi.relax import load_result

    at = bulk("Si", "diamond", a=5.43)
    write(tmp_path / "final.extxyz", at, format="extxyz")
    (tmp_path / "result.json").write_text(json.dumps(
        {"energy_ev": -1.0, "energies_ev": [-0.5, -1.0], "fmax_ev_per_a": 0.01, "steps": 2,
         "converged": True, "wall_s": 3.0, "extras": {},
         "final_structure": "/elsewhere/checkout/relax/final.extxyz"}))
    res = load_result(tmp_path)
    assert Path(res.final_structure) == tmp_path / "final.extxyz"
    assert np.allclose(res.atoms().positions, at.positions)


def test_properties_file_cut_short_by_a_kill_keeps_its_complete_rows(tmp_path):
    """i-PI killed mid-write leaves a partial last row: it is dropped (the run resumes from
    the complete steps); a short row in the middle is corrupt data and an error."""
    from mlh_ipi.ipi.inputs import read_properties

    head = ("# column   1     --> step : The current simulation time step.\n"
            "# column   2     --> potential{electronvolt} : The physical system potential energy.\n")
    out = tmp_path / "relax.out"
    out.write_text(head + "    0.0   -1.5e+01\n    1.0   -1.6e+01\n    2.0000000e+00   \n")
    props = read_properties(out)
    assert props["step"].tolist() == [0.0, 1.0] and props["potential"].tolist() == [-15.0, -16.0]
    out.write_text(head + "    0.00000000e+00   \n")  # the case seen in a killed DFT relaxation
    assert read_properties(out)["potential"].size == 0
    out.write_text(head + "    0.0   -1.5e+01\n    1.0\n    2.0   -1.7e+01\n")
    with pytest.raises(ValueError, match="row 1 has 1 of 2 columns"):
        read_properties(out)
