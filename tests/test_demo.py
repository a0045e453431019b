"""The README's demo, with reduced step counts: the whole chain runs and the report holds the physics."""
import json
import math

import pytest

from mlh_ipi.workflows.demo import RESOURCES, DemoOptions, run_demo

# ~7 min on 2 shared cores (two i-PI relaxations + two short MD runs): kept out of the default
# suite (which is at ~15 min) and run with `make test-slow`.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (RESOURCES / "mlh.pt").exists(),
                                 reason="demo models not generated (examples/demo_sio2/make_demo_data.py)")]


def test_demo_report_has_formation_energy_and_gap_statistics_at_both_temperatures(tmp_path):
    opt = DemoOptions(workdir=tmp_path / "work", report=tmp_path / "report", temperatures=(300.0, 600.0),
                      md_steps=100, stream_every=20, max_relax_steps=12, fmax_ev_per_a=0.1)
    summary = run_demo(opt)
    e_f = summary["formation_energy_ev"]
    assert math.isfinite(e_f) and 2.0 < e_f < 8.0, e_f
    temps = sorted(r["temperature_k"] for r in summary["temperature_stats"])
    assert temps == [300.0, 600.0]
    for r in summary["temperature_stats"]:
        assert r["n_snapshots"] >= 5 and r["band_gap_mean"] > 1.0 and r["band_gap_std"] >= 0.0
    counters = summary["stream_counters"]
    assert counters["dropped"] == 0 and counters["processed"] == counters["produced"]
    report = opt.report / "summary.md"
    text = report.read_text()
    assert "E_f" in text and "300" in text and "600" in text
    for png in ("relaxation.png", "levels.png", "gap_vs_T.png"):
        assert (opt.report / png).stat().st_size > 5000, png
    saved = json.loads((opt.report / "summary.json").read_text())
    assert saved["formation_energy_ev"] == pytest.approx(e_f)

    # a second run reuses every finished stage: same numbers, no new relaxation
    result = next((opt.workdir / "formation").glob("vo_site*/result.json"))
    stamp = result.stat().st_mtime_ns
    again = run_demo(opt)
    assert again["formation_energy_ev"] == pytest.approx(e_f, abs=1e-9)
    assert result.stat().st_mtime_ns == stamp
    assert again["timings_s"]["total_s"] < summary["timings_s"]["total_s"]
