"""MLH engine end to end: tiny trained model -> MLHCalculator; i-PI relaxation == ASE relaxation."""
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.optimize import BFGS

from mlh_ipi.calculator import MLHCalculator
from mlh_ipi.ipi.pes import MLHDriver
from mlh_ipi.ipi.relax import relax_with_ipi

DATA = Path(__file__).parent / "data" / "si2_cheap"
FMAX = 0.005  # eV/A, tight so that both optimisers stop at the same minimum


@pytest.fixture(scope="module")
def tiny_model(train_tiny_mlh):
    return train_tiny_mlh(DATA, epochs=60, name="si2_model")


def _start():
    at = bulk("Si", "diamond", a=5.43)
    at.positions[0] += [0.12, 0.05, -0.03]
    return at


def test_ipi_relaxation_matches_ase_relaxation_with_the_same_model(tiny_model, tmp_path):
    direct = _start()
    direct.calc = MLHCalculator(tiny_model)
    e0 = direct.get_potential_energy()
    assert np.isfinite(e0) and direct.calc.electronic["band_gap"] > 0
    BFGS(direct, logfile=None).run(fmax=FMAX, steps=100)
    e_ase = direct.get_potential_energy()

    res = relax_with_ipi(_start(), tmp_path / "ipi", engine="mlh", model=str(tiny_model),
                         fmax_ev_per_a=FMAX, max_steps=100)
    assert res.converged
    assert abs(res.energy_ev - e_ase) < 1e-4, (res.energy_ev, e_ase)
    assert res.energies_ev[0] == pytest.approx(e0, abs=1e-6)  # same PES at the start
    assert res.energy_ev < e0
    # the final geometry is in the structure's own frame (i-PI rotates this fcc cell into its
    # upper-triangular orientation): the same Si-Si vector as ASE's minimum, and its MLH
    # energy is the reported one
    final = res.atoms()
    assert np.allclose(final.cell.array, direct.cell.array)
    bond = [a.positions[1] - a.positions[0] for a in (final, direct)]
    frac = np.linalg.solve(direct.cell.array.T, bond[0] - bond[1])  # a lattice vector: whole numbers
    assert np.allclose(frac, np.round(frac), atol=1e-3), frac
    final.calc = MLHCalculator(tiny_model)
    assert final.get_potential_energy() == pytest.approx(res.energy_ev, abs=1e-4)
    # the electronic extras came through i-PI's output
    assert res.extras["band_gap"] == pytest.approx(direct.calc.electronic["band_gap"], abs=5e-3)
    assert {"vbm", "cbm", "defect_levels"} <= set(res.extras)


def test_species_outside_the_model_is_rejected_before_the_first_step(tiny_model, tmp_path):
    from ase import Atoms
    from ase.io import write

    template = tmp_path / "sio.extxyz"
    write(template, Atoms("SiO", positions=[[0, 0, 0], [1.6, 0, 0]], cell=[6, 6, 6], pbc=True))
    with pytest.raises(ValueError, match=r"\['O'\] not in orbital layout"):
        MLHDriver(str(template), model=str(tiny_model))


def test_nan_positions_raise_instead_of_garbage_forces(tiny_model):
    at = _start()
    at.positions[1, 2] = np.nan
    at.calc = MLHCalculator(tiny_model)
    with pytest.raises(ValueError, match="NaN"):
        at.get_forces()


def test_h_only_mode_gives_electronics_but_no_energy(tiny_model):
    at = _start()
    calc = MLHCalculator(tiny_model, mode="h_only")
    calc.calculate(at, properties=[])
    assert calc.electronic["band_gap"] > 0 and "energy" not in calc.results
    with pytest.raises(ValueError, match="h_only"):
        calc.calculate(at, properties=["energy"])


def test_energy_only_request_skips_forces_and_agrees_with_the_full_call(tiny_model, monkeypatch):
    at = _start()
    calc = MLHCalculator(tiny_model)
    calc.calculate(at, properties=["energy"])
    assert "forces" not in calc.results  # no gradient passes for an energy-only request
    e_only = calc.results["energy"]
    functional = calc.functional
    predictions = []
    predict = calc.model.predict_gamma
    monkeypatch.setattr(calc.model, "predict_gamma", lambda *a, **k: predictions.append(1) or predict(*a, **k))
    at.calc = calc
    f = at.get_forces()  # same geometry: the energy call's functional and prediction are reused
    assert calc.functional is functional and predictions == []
    assert f.shape == (2, 3) and np.abs(f).max() > 1e-3
    assert at.get_potential_energy() == pytest.approx(e_only, abs=1e-8)
    both = MLHCalculator(tiny_model)
    both.calculate(at, properties=["energy", "forces"])
    assert both.results["energy"] == pytest.approx(e_only, abs=1e-8)
    assert np.allclose(both.results["forces"], f, atol=1e-8)
    # a moved atom invalidates the cache: a new functional and a new prediction
    at.positions[0, 0] += 0.05
    assert at.get_potential_energy() != pytest.approx(e_only, abs=1e-6)
    assert calc.functional is not functional and predictions == [1]
    moved = at.get_forces()
    assert not np.allclose(moved, f, atol=1e-4)


def test_cli_single_point_writes_energy_forces_and_extras(tiny_model, tmp_path, capsys):
    from ase.io import read, write

    from mlh_ipi.cli.main import main

    start = tmp_path / "start.extxyz"
    write(start, _start())
    assert main(["single-point", str(tiny_model), str(start), "--out", str(tmp_path / "sp.extxyz")]) == 0
    printed = capsys.readouterr().out
    assert "band gap" in printed and "max |F|" in printed
    out = read(tmp_path / "sp.extxyz")
    direct = _start()
    direct.calc = MLHCalculator(tiny_model)
    assert out.get_potential_energy() == pytest.approx(direct.get_potential_energy(), abs=1e-8)
    assert np.allclose(out.get_forces(), direct.get_forces(), atol=1e-8)
    assert out.info["band_gap"] == pytest.approx(direct.calc.electronic["band_gap"], abs=1e-8)
    # gap-only mode and a clear error for a missing structure
    assert main(["single-point", str(tiny_model), str(start), "--h-only", "--out", str(tmp_path / "h.extxyz")]) == 0
    gap_only = read(tmp_path / "h.extxyz")
    assert gap_only.calc is None or "energy" not in gap_only.calc.results
    assert gap_only.info["band_gap"] == pytest.approx(out.info["band_gap"], abs=1e-8)
    assert main(["single-point", str(tiny_model), str(tmp_path / "missing.extxyz")]) == 2
    assert "no such structure" in capsys.readouterr().err


def test_mlh_forces_are_minus_the_gradient_of_the_mlh_energy(tiny_model):
    """Consistent forces (the default) include the model's own dH_ML/dR: they match central
    differences of the served energy to 2 meV/A; the Hellmann-Feynman expression does not."""
    import torch

    from mlh_ipi.model.predictor import HamiltonianPredictor

    model = HamiltonianPredictor.load(tiny_model, dtype=torch.float64)  # FD needs double precision
    at = _start()
    at.positions[1] += [-0.05, 0.08, 0.02]
    components, step = [(0, 0), (1, 2)], 2e-3
    fd = []
    for i, k in components:
        e = []
        for sign in (1, -1):
            moved = at.copy()
            moved.positions[i, k] += sign * step
            moved.calc = MLHCalculator(model)
            e.append(moved.get_potential_energy())
        fd.append(-(e[0] - e[1]) / (2 * step))
    at.calc = MLHCalculator(model)
    cons = at.get_forces()
    at.calc = MLHCalculator(model, force_mode="hellmann_feynman")
    hf = at.get_forces()
    pick = lambda f: np.array([f[i, k] for i, k in components])  # noqa: E731
    assert np.abs(pick(cons) - fd).max() < 2e-3, (pick(cons), fd, pick(hf))
    assert np.abs(cons.sum(0)).max() < 5e-3  # no net force beyond the real-space grid's egg-box
    assert np.abs(pick(hf) - fd).max() > 5 * np.abs(pick(cons) - fd).max()
    with pytest.raises(ValueError, match="force_mode"):
        MLHCalculator(model, force_mode="approximate")


def test_interrupted_relaxation_resumes_on_the_uninterrupted_path(tiny_model, tmp_path):
    """A run cut short (here: 3 steps, then its result removed as if the job had been killed)
    continues from i-PI's checkpoint with its L-BFGS history: the same energies, steps and
    minimum as one uninterrupted run, and one trajectory frame per counted step."""
    import json

    from mlh_ipi.ipi.relax import relaxation_trajectory

    fmax = 0.01  # eV/A (three steps reach 0.024): looser than FMAX, cheaper
    kw = dict(engine="mlh", model=str(tiny_model), fmax_ev_per_a=fmax)
    whole = relax_with_ipi(_start(), tmp_path / "whole", max_steps=100, **kw)
    work = tmp_path / "cut"
    first = relax_with_ipi(_start(), work, max_steps=3, **kw)
    assert not first.converged and first.steps == 4  # step 0 plus three optimiser steps
    (work / "result.json").unlink()
    (work / "final.extxyz").unlink()
    resumed = relax_with_ipi(_start(), work, max_steps=100, **kw)
    segments = json.loads((work / "segments.json").read_text())
    assert [s["steps"] for s in segments] == [4] and (work / "resume.chk").exists()
    assert json.loads((work / "run.json").read_text())["restart"] == "checkpoint"
    assert whole.converged and resumed.converged and resumed.steps == whole.steps > 4
    assert resumed.energies_ev == pytest.approx(whole.energies_ev, abs=1e-8)
    assert np.allclose(resumed.atoms().positions, whole.atoms().positions, atol=1e-8)
    assert resumed.wall_s > first.wall_s * 0.5  # both segments counted
    traj = relaxation_trajectory(work)
    assert [a.info["step"] for a in traj] == list(range(resumed.steps))
    assert np.allclose(np.array([a.positions for a in traj]),
                       np.array([a.positions for a in relaxation_trajectory(tmp_path / "whole")]), atol=1e-8)


def test_resume_without_a_readable_checkpoint_starts_from_the_last_geometry(tiny_model, tmp_path):
    """A checkpoint cut short by a kill is not used: the run goes on from the last geometry
    i-PI wrote with a fresh optimiser history, and that geometry's re-evaluation is not
    counted as a step. Rows written after the checkpointed step are dropped."""
    from ase.io import read
    import json

    from mlh_ipi.ipi.relax import relaxation_trajectory

    work, fmax = tmp_path / "relax", 0.01
    kw = dict(engine="mlh", model=str(tiny_model), fmax_ev_per_a=fmax)
    first = relax_with_ipi(_start(), work, max_steps=3, **kw)
    last = first.atoms().positions
    (work / "result.json").unlink()
    (work / "final.extxyz").unlink()
    chk = work / "relax.chk"
    chk.write_text(chk.read_text()[: len(chk.read_text()) // 2])  # killed while writing it
    resumed = relax_with_ipi(_start(), work, max_steps=100, **kw)
    assert json.loads((work / "run.json").read_text())["restart"] == "geometry"
    assert not (work / "resume.chk").exists()
    assert resumed.converged
    assert np.allclose(read(work / "start.extxyz").positions, last, atol=1e-5)
    assert np.allclose(read(work / "init.extxyz").positions, _start().positions)  # original start kept
    assert resumed.energies_ev[:4] == pytest.approx(first.energies_ev)
    assert resumed.energies_ev[4] != pytest.approx(first.energies_ev[3], abs=1e-9)  # no repeated row
    assert resumed.energy_ev < first.energy_ev
    traj = relaxation_trajectory(work)
    assert [a.info["step"] for a in traj] == list(range(resumed.steps))
    assert [a.info["energy_ev"] for a in traj] == pytest.approx(resumed.energies_ev)
    assert np.allclose(traj[0].positions, _start().positions, atol=1e-5)
    assert np.allclose(traj[3].positions, last, atol=1e-5)
    assert np.allclose(traj[-1].positions, resumed.atoms().positions, atol=1e-8)

    # a checkpoint older than the last rows (killed between writing them and it): those rows
    # are redone from the checkpoint, not counted twice
    from mlh_ipi.ipi.relax import _archive_interrupted

    cut = tmp_path / "cut"
    relax_with_ipi(_start(), cut, max_steps=3, **kw)
    (cut / "result.json").unlink()
    older = (cut / "relax.chk").read_text().replace("<step>3</step>", "<step>2</step>")
    assert older != (cut / "relax.chk").read_text()
    (cut / "relax.chk").write_text(older)
    segments = _archive_interrupted(cut)
    assert segments[0]["steps"] == 3 and segments[0]["energies_ev"] == pytest.approx(first.energies_ev[:3])
    assert (cut / "resume.chk").exists()
    # a checkpoint restart killed before its first new step: no step, but its time counts,
    # and the checkpoint stays the state to resume from
    (cut / "run.json").write_text(json.dumps({"restart": "checkpoint"}))
    (cut / "relax.out").write_text("".join(ln + "\n" for ln in (cut / "segment_00" / "relax.out")
                                           .read_text().splitlines() if ln.startswith("#")))
    (cut / "relax.pos_0.xyz").write_text("")
    (cut / "elapsed.json").write_text(json.dumps({"wall_s": 7.0}))
    segments = _archive_interrupted(cut)
    assert [s["steps"] for s in segments] == [3, 0] and segments[1]["wall_s"] == 7.0
    assert segments[1]["last_positions"] == segments[0]["last_positions"]
    assert (cut / "resume.chk").exists() and not (cut / "relax.out").exists()


def test_segment_records_from_before_checkpoints_drop_the_repeated_row():
    """Older runs counted each geometry restart's first row (the previous last geometry,
    evaluated again) as a step; their records are read without it."""
    from mlh_ipi.ipi.relax import _normalised

    old = [{"steps": 3, "energies_ev": [-1.0, -2.0, -3.0]}, {"steps": 1, "energies_ev": [-3.0]},
           {"steps": 3, "energies_ev": [-3.0, -3.5, -3.7]}]
    new = _normalised(old)
    assert [s["steps"] for s in new] == [3, 0, 2]
    assert [e for s in new for e in s["energies_ev"]] == [-1.0, -2.0, -3.0, -3.5, -3.7]
    assert _normalised(new) == new  # idempotent


def test_calculator_band_edges_by_count_from_the_argument_or_the_structure(tiny_model):
    """``valence_states`` one below the filled count: the occupied top state becomes the CBM
    (a 2-atom cell has no localised states), as an argument or from ``atoms.info``."""
    at = _start()
    default = MLHCalculator(tiny_model, mode="h_only")
    default.calculate(at, properties=[])
    nocc = 4  # Si2: 8 valence electrons
    by_count = MLHCalculator(tiny_model, mode="h_only", valence_states=nocc - 1, resonance_ev=1.0)
    by_count.calculate(at, properties=[])
    assert by_count.electronic["cbm"] == pytest.approx(default.electronic["vbm"], abs=1e-12)
    assert by_count.electronic["vbm"] <= default.electronic["vbm"]
    assert by_count.extras()["defect_levels_resonant"] == [] and "defect_levels_resonant" not in default.extras()
    tagged = _start()
    tagged.info["valence_states"] = nocc - 1
    from_info = MLHCalculator(tiny_model, mode="h_only")
    from_info.calculate(tagged, properties=[])
    assert from_info.electronic["cbm"] == pytest.approx(by_count.electronic["cbm"], abs=1e-12)


def test_cli_single_point_takes_the_band_edge_count(tiny_model, tmp_path):
    from ase.io import read, write

    from mlh_ipi.cli.main import main

    start = tmp_path / "start.extxyz"
    write(start, _start())
    out = tmp_path / "counted.extxyz"
    assert main(["single-point", str(tiny_model), str(start), "--h-only", "--valence-states", "3",
                 "--level-resonance", "0.5", "--out", str(out)]) == 0
    direct = MLHCalculator(tiny_model, mode="h_only", valence_states=3, resonance_ev=0.5)
    direct.calculate(_start(), properties=[])
    assert read(out).info["band_gap"] == pytest.approx(direct.electronic["band_gap"], abs=1e-8)
