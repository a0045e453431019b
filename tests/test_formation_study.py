"""``benchmarks/sio2_vo_formation.py``, the formation case-study script, on a tiny model.

Marked ``slow`` (``make test-slow``) since session 24: it takes 150 s, the default suite had reached
14 min 20 s on two cores, and the formation workflow it drives is covered by ``test_formation.py``;
this file checks the benchmark script's own glue.
"""
import csv
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.io import read

from formation_fixtures import E_O2_EV, quartz, tiny_model  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_case_study_script_runs_the_mlh_side_and_a_second_model_from_its_minima(tiny_model, quartz, tmp_path):
    """benchmarks/sio2_vo_formation.py glue: the MLH stage relaxes host and a site and writes
    the table (DFT columns empty); a --tag model with --mlh-start mlh starts from those minima
    and is flagged as such. (A row-bookkeeping IndexError once slipped through this path.)"""
    import importlib.util

    spec = importlib.util.spec_from_file_location("sio2_vo_formation", ROOT / "benchmarks" / "sio2_vo_formation.py")
    study = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = study  # its dataclasses look their module up there
    spec.loader.exec_module(study)
    out = tmp_path / "study"
    common = ["--model", str(tiny_model), "--hosts", f"{quartz}:1", "--max-steps", "1", "--fmax", "0.05",
              "--o2-energy-ev", str(E_O2_EV), "--out", str(out), "--threads", "1", "--stage", "mlh"]
    assert study.main(common) == 0
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1 and {r["mlh_start"] for r in rows} == {"unrelaxed"}
    assert all(np.isnan(float(r["ef_dft_ev"])) and np.isfinite(float(r["ef_mlh_ev"])) for r in rows)
    assert (out / "summary.png").exists() and "| MLH start |" in (out / "results.md").read_text()

    assert study.main([*common, "--tag", "second", "--mlh-start", "mlh"]) == 0
    with open(out / "results_second.csv") as fh:
        assert {r["mlh_start"] for r in csv.DictReader(fh)} == {"mlh"}
    first_host = read(out / "work" / "mlh" / "quartz" / "host" / "final.extxyz")
    second_start = read(out / "work" / "mlh_second" / "quartz" / "host" / "init.extxyz")
    assert np.allclose(second_start.positions, first_host.positions, atol=1e-8)

    # --stage report reads what is finished and relaxes nothing: the same row again, and
    # an unfinished vacancy is left out rather than relaxed
    report = [a if a != "mlh" else "report" for a in common]
    assert study.main(report) == 0
    with open(out / "results.csv") as fh:
        again = list(csv.DictReader(fh))
    assert [r["ef_mlh_ev"] for r in again] == [r["ef_mlh_ev"] for r in rows]
    site_dir = next((out / "work" / "mlh" / "quartz").glob("vo_site*"))
    (site_dir / "result.json").rename(site_dir / "result.moved")
    before = sorted(p.name for p in site_dir.iterdir())
    (out / "results.csv").unlink()
    assert study.main(report) == 0
    assert not (out / "results.csv").exists()  # no finished case: no table
    assert sorted(p.name for p in site_dir.iterdir()) == before  # nothing was relaxed
