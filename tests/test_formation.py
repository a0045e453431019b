"""V_O formation-energy workflow through real i-PI relaxations, and the i-PI example inputs/scripts.

A tiny MLH model is trained on the 9-atom quartz labels (``tests/data/sio2_tiny``,
250 Ha) in a fixture (~15 s). Relaxations are capped at one optimiser step so
that the module stays well under 3 minutes: the tests check the workflow
(energies, E_f arithmetic, files, resume, errors), not converged physics.
"""
import csv
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from mlh_ipi.cli.main import main as cli_main
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.units import HARTREE_PER_BOHR
from mlh_ipi.workflows.formation import formation_energies, o2_energy

from formation_fixtures import E_O2_EV, quartz, tiny_model  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "ipi_relax"


def test_formation_energy_workflow_relaxes_writes_and_resumes(tiny_model, quartz, tmp_path, capsys):
    host = read(quartz)
    out = tmp_path / "vo"
    kw = dict(engine="mlh", model=str(tiny_model), o2_energy_ev=E_O2_EV, fmax_ev_per_a=0.05, max_steps=1)
    table = formation_energies(host, [5], out, **kw)

    assert table.o2_source == "given" and table.energy_o2_ev == E_O2_EV
    assert len(table.host.energies_ev) >= 2 and table.host.energies_ev[-1] < table.host.energies_ev[0]
    (row,) = table.rows
    assert row.site == 5 and row.n_atoms == 8
    assert np.isfinite(row.formation_energy_ev)
    assert row.formation_energy_ev == pytest.approx(
        row.energy_vacancy_ev - table.host.energy_ev + 0.5 * E_O2_EV, abs=1e-9)
    assert row.band_gap_ev > 0 and row.cbm_ev > row.vbm_ev
    final = read(row.final_structure)
    assert final.get_chemical_formula() == "O5Si3"
    assert final.info["defect_host_index"] == 5  # the vacancy record travels with the structure

    with open(table.csv_path) as fh:
        (csv_row,) = list(csv.DictReader(fh))
    assert int(csv_row["site"]) == 5
    assert float(csv_row["formation_energy_ev"]) == pytest.approx(row.formation_energy_ev)
    assert table.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "formation.json").read_text())
    assert summary["vacancies"][0]["formation_energy_ev"] == pytest.approx(row.formation_energy_ev)

    # resume: nothing is relaxed again, the same numbers come back
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/ipi.log")}
    assert len(stamps) == 2
    t0 = time.perf_counter()
    again = formation_energies(host, [5], out, **kw)
    assert time.perf_counter() - t0 < 30  # a relaxation here takes longer than loading the model
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/ipi.log")} == stamps
    assert again.rows[0].formation_energy_ev == row.formation_energy_ev
    # the command line on the finished folder: same options, resumes and prints the table
    capsys.readouterr()
    assert cli_main(["--threads", "1", "formation", str(quartz), "--sites", "5", "--model", str(tiny_model),
                     "--o2-energy-ev", str(E_O2_EV), "--fmax", "0.05", "--max-steps", "1",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"| 5 | {row.formation_energy_ev:.3f} |" in printed and "(given)" in printed
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/ipi.log")} == stamps

    # the folder refuses a run with other options instead of mixing results
    with pytest.raises(ValueError, match="other options"):
        formation_energies(host, [5], out, **{**kw, "vacancy_from": "input"})

    # a second run starts host and vacancy from this run's minima (start_from)
    formation_energies(host, [5], tmp_path / "second", **kw, start_from=out)
    assert np.allclose(read(tmp_path / "second" / "host" / "init.extxyz").positions,
                       table.host.atoms().positions, atol=1e-8)
    assert np.allclose(read(tmp_path / "second" / "vo_site0005" / "init.extxyz").positions,
                       final.positions, atol=1e-8)
    with pytest.raises(ValueError, match="holds no finished relaxation"):
        formation_energies(host, [5], tmp_path / "third", **kw, start_from=tmp_path / "nothing")
    assert not (tmp_path / "third").exists()


def test_a_site_that_is_not_oxygen_is_a_clear_error_before_anything_runs(tiny_model, quartz, tmp_path,
                                                                         capsys):
    host = read(quartz)
    with pytest.raises(ValueError, match="site 0 is Si, not O"):
        formation_energies(host, [5, 0], tmp_path / "a", model=str(tiny_model), o2_energy_ev=E_O2_EV)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="out of range"):
        formation_energies(host, [9], tmp_path / "b", model=str(tiny_model), o2_energy_ev=E_O2_EV)
    rc = cli_main(["--threads", "1", "formation", str(quartz), "--sites", "1", "--model", str(tiny_model),
                   "--o2-energy-ev", str(E_O2_EV), "--out", str(tmp_path / "c")])
    assert rc == 2
    assert "site 1 is Si, not O" in capsys.readouterr().err


def test_o2_energy_is_read_from_the_cache_for_the_same_settings(tmp_path):
    s = DFTSettings(ke_cutoff=250.0)
    (tmp_path / "o2_reference.json").write_text(json.dumps({"settings": s.to_dict(), "energy_ev": -871.25,
                                                            "bond_length_a": 1.3, "box_a": 9.0, "scan": []}))
    assert o2_energy(tmp_path, s) == (-871.25, "cached")
    assert o2_energy(tmp_path, s, given_ev=-870.0) == (-870.0, "given")
    with pytest.raises(ValueError, match="finite"):
        o2_energy(tmp_path, s, given_ev=float("nan"))


@pytest.mark.parametrize("name", ["host_mlh", "vo_mlh", "host_dft", "vo_dft"])
def test_example_inputs_are_fixed_cell_relaxations_to_20_meV_per_angstrom(name):
    root = ET.parse(EXAMPLES / f"{name}.xml").getroot()
    opt = root.find("system/motion/optimizer")
    assert root.find("system/motion").get("mode") == "minimize"
    assert opt.get("mode") in ("lbfgs", "bfgs")
    assert float(opt.find("tolerances/force").text) * HARTREE_PER_BOHR == pytest.approx(0.02, rel=1e-5)
    init = read(EXAMPLES / root.find("system/initialize/file").text.strip())
    host = read(EXAMPLES / "host.extxyz")
    if name.startswith("vo"):
        assert len(init) == len(host) - 1 and init.info["defect"] == "V_O"
        assert all(init[k].symbol == "Si" for k in init.info["defect_si"])
    else:
        assert len(init) == 48 and init.get_chemical_formula() == "O32Si16"


def test_example_script_relaxes_a_host_with_mlh_and_cleans_up(tiny_model, quartz, tmp_path):
    work = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(EXAMPLES / "run.py"), "host_mlh", "--model", str(tiny_model),
                           "--structure", str(quartz), "--max-steps", "1", "--workdir", str(work),
                           "--timeout", "300"], capture_output=True, text=True, env=env, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "host_mlh:" in proc.stdout and "steps" in proc.stdout
    energies = [float(ln.split()[1]) for ln in (work / "host_mlh.out").read_text().splitlines()
                if not ln.startswith("#")]
    assert len(energies) >= 2 and energies[-1] < energies[0]
    socket = re.search(r"socket (\S+),", proc.stdout).group(1)
    assert socket.startswith("/tmp/ipi_host_mlh_") and not Path(socket).exists()
    assert "i-PI sent EXIT" in (work / "client.log").read_text()  # the client left on its own


@pytest.mark.slow
def test_dft_engine_formation_with_a_computed_and_cached_o2_reference(quartz, tmp_path):
    """The DFT path end to end at a cheap grid (100 Ha): settings JSON, O2 scan, cache, E_f (~10 min)."""
    settings = tmp_path / "cheap.json"
    settings.write_text(json.dumps(DFTSettings(ke_cutoff=100.0).to_dict()))
    host = read(quartz)
    kw = dict(engine="dft", settings_json=settings, fmax_ev_per_a=0.05, max_steps=1, vacancy_from="input")
    table = formation_energies(host, [5], tmp_path / "dft", **kw)
    assert table.o2_source == "computed"
    cached = json.loads((tmp_path / "dft" / "o2_reference.json").read_text())
    assert cached["settings"]["ke_cutoff"] == 100.0 and cached["energy_ev"] == table.energy_o2_ev
    assert 1.1 < cached["bond_length_a"] < 1.6  # bound O2 (SZV stretches it to ~1.42 A, docs/labels.md)
    (row,) = table.rows
    assert np.isfinite(row.formation_energy_ev) and row.engine == "dft"
    assert row.formation_energy_ev == pytest.approx(
        row.energy_vacancy_ev - table.host.energy_ev + 0.5 * table.energy_o2_ev, abs=1e-9)
    assert row.band_gap_ev > 0 and row.defect_levels_ev == []  # HOMO-LUMO only from the DFT client
    again = formation_energies(host, [5], tmp_path / "dft", **kw)
    assert again.o2_source == "cached" and again.rows[0].formation_energy_ev == row.formation_energy_ev


def test_run_folder_knows_its_model_by_content_not_path(tmp_path):
    """A copied checkpoint (another checkout) matches; other bytes do not; a record written
    before the fingerprint existed gains it instead of refusing to resume."""
    import json
    import shutil

    from mlh_ipi.workflows.formation import _check_same_run, model_fingerprint

    a = tmp_path / "a" / "best.pt"
    a.parent.mkdir()
    a.write_bytes(b"weights v1")
    b = tmp_path / "elsewhere" / "best.pt"
    b.parent.mkdir()
    shutil.copy(a, b)
    assert model_fingerprint(a) == model_fingerprint(b)
    b.write_bytes(b"weights v2")
    assert model_fingerprint(a) != model_fingerprint(b)
    committee = tmp_path / "committee"
    shutil.copytree(a.parent, committee / "member_0")
    assert model_fingerprint(committee) != model_fingerprint(a)  # member names count

    run = tmp_path / "run"
    run.mkdir()
    (run / "workflow.json").write_text(json.dumps({"engine": "mlh", "model": "/old/checkout/best.pt"}))
    _check_same_run(run, {"engine": "mlh", "model_sha256": model_fingerprint(a)})
    assert json.loads((run / "workflow.json").read_text())["model_sha256"] == model_fingerprint(a)
    with pytest.raises(ValueError, match="other options"):
        _check_same_run(run, {"engine": "mlh", "model_sha256": model_fingerprint(b)})
