"""``benchmarks/gaas_md_accuracy.py``: the per-temperature statistics and target verdicts of issue 7's table."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gaas_md_accuracy", ROOT / "benchmarks" / "gaas_md_accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _eval_row(kind, t, gap, own, level=None):
    return {"label": f"{kind}_{t}", "kind": kind, "temperature_K": t, "gap_dft_ev": 0.4,
            "gap_error_mev": own, "gap_error_matched_mev": gap, "defect_level_error_matched_mev": level,
            "h_mae_mev": 1.0}


def test_statistics_per_temperature_match_numpy_and_other_cells_are_left_out(bench):
    rng = np.random.default_rng(3)
    rows = []
    for t in (100.0, 300.0):
        for i in range(12):
            kind = ("pristine", "As_i", "As_Ga")[i % 3]
            rows.append(_eval_row(kind, t, rng.normal(-5, 10), rng.normal(0, 10),
                                  rng.normal(0, 20) if kind == "As_i" else None))
    rows.append(_eval_row("V_Ga", 100.0, 500.0, 500.0, 500.0))  # not one of the scored cells
    scored = bench.score_rows(rows, {"pristine", "As_i", "As_Ga"})
    assert len(scored) == 24 and all(r["kind"] != "V_Ga" for r in scored)
    stats = bench.group_stats(scored, lambda r: r["temperature_K"])
    for t in (100.0, 300.0):
        mine = [r for r in scored if r["temperature_K"] == t]
        gap = np.array([r["gap_error_matched_mev"] for r in mine])
        lev = np.array([r["level_error_matched_mev"] for r in mine if r["level_error_matched_mev"] is not None])
        assert stats[t]["n"] == 12 and stats[t]["n_levels"] == 4
        assert stats[t]["gap_mae"] == pytest.approx(np.abs(gap).mean())
        assert stats[t]["gap_mean"] == pytest.approx(gap.mean())
        assert stats[t]["level_mae"] == pytest.approx(np.abs(lev).mean())


def test_the_verdict_needs_every_temperature_within_target_and_ten_snapshots_each(bench):
    good = [_eval_row("pristine", t, 5.0, 5.0) for t in (100.0, 300.0, 500.0) for _ in range(10)]
    good += [_eval_row("As_i", t, -5.0, -5.0, 10.0) for t in (100.0, 300.0, 500.0)]
    text = bench.tables("m", bench.score_rows(good, {"pristine", "As_i"}))
    assert "gap MAE <= 20 meV: met" in text and "level MAE <= 30 meV: met" in text
    assert "per temperature: yes" in text

    bad = good[:-1] + [_eval_row("As_i", 500.0, -45.0, -45.0, 80.0)]  # one hot level far off
    text = bench.tables("m", bench.score_rows(bad, {"pristine", "As_i"}))
    assert "level MAE <= 30 meV: not met" in text

    few = [r for r in good if not (r["temperature_K"] == 500.0 and r["kind"] == "pristine")]
    assert "per temperature: no" in bench.tables("m", bench.score_rows(few, {"pristine", "As_i"}))


def test_level_snapshot_steps_are_on_the_dump_stride_after_equilibration():
    spec = importlib.util.spec_from_file_location("gaas_level_snapshots",
                                                  ROOT / "benchmarks" / "gaas_level_snapshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    steps = mod.snapshot_steps(1000, 400, 7, 10)
    assert steps == sorted(set(steps)) and len(steps) == 7
    assert steps[0] > 400 and steps[-1] == 1000 and all(s % 10 == 0 for s in steps)
    with pytest.raises(ValueError, match="do not fit"):
        mod.snapshot_steps(1000, 950, 7, 10)
    with pytest.raises(ValueError, match="skip < steps"):
        mod.snapshot_steps(400, 400, 3, 10)
