"""Harris baseline H_0 = h_core + V_Hxc[D_atoms]: its force term, ΔH training, serving, errors."""
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from mlh_ipi.data.labelfile import label_files, read_label
from mlh_ipi.dft.harris import HarrisBaseline
from mlh_ipi.dft.settings import DFTSettings
from mlh_ipi.units import BOHR

DATA = Path(__file__).parent / "data" / "si2_cheap"
CHEAP = DFTSettings(ke_cutoff=40.0, precision=1e-9, conv_tol=1e-10)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _si2(shift=(0.07, 0.03, -0.04)):
    at = bulk("Si", "diamond", a=5.43)
    at.positions[0] += shift
    return at


def _weights(n, seed=0):
    g = np.random.default_rng(seed).normal(size=(n, n)) * 0.1
    return g  # not symmetric on purpose: only its symmetric part may count


def test_force_term_of_the_baseline_matches_finite_differences():
    """d/dR Tr[G H_0(R)] from two fixed-density gradients equals central differences of
    Tr[G H_0] in the positions (Hartree/Bohr), for every Cartesian component of one atom."""
    atoms = _si2()
    base = HarrisBaseline(atoms, CHEAP)
    h0 = base.hamiltonian_ha()
    assert np.array_equal(h0, h0.T)
    g = _weights(h0.shape[0])
    vjp = base.vjp_ha_bohr(g)
    step = 1e-3  # Angstrom
    for k in range(3):
        vals = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[0, k] += sign * step
            vals.append(np.sum(g * HarrisBaseline(moved, CHEAP).hamiltonian_ha()))
        fd = (vals[0] - vals[1]) / (2 * step) * BOHR
        assert abs(fd - vjp[0, k]) < 1e-6 * max(1.0, abs(fd)), (k, fd, vjp[0, k])
    assert np.abs(vjp[0]).max() > 1e-3  # a real, non-trivial derivative was checked
    # translation invariance, up to the real-space grid's egg-box effect at this low cutoff
    np.testing.assert_allclose(vjp.sum(0), 0.0, atol=1e-4)


@pytest.fixture(scope="module")
def baseline_model(tmp_path_factory):
    """A tiny model trained on ΔH = H - H_0 of the Si2 labels (and its output folder)."""
    from mlh_ipi.model.network import ModelConfig
    from mlh_ipi.model.training import TrainConfig, train

    out = tmp_path_factory.mktemp("harris_model")
    cfg = TrainConfig(folders=(str(DATA),), output=str(out), epochs=30, batch_size=2, lr=1e-2, progress=False,
                      split=(1.0, 0.0, 0.0),
                      model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6, radial_hidden=16,
                                        hidden_irreps="8x0e+4x1o+4x1e+2x2e", baseline="harris"))
    train(cfg)
    return out


def test_baseline_model_learns_delta_h_and_predicts_h0_plus_delta(baseline_model):
    """Training targets are H - H_0 (cached once per structure); the loaded predictor adds the
    very same H_0 back, so its Γ matrix is H_0 + the network's ΔH and close to the DFT H."""
    from mlh_ipi.model.predictor import HamiltonianPredictor

    pred = HamiltonianPredictor.load(baseline_model / "best.pt")
    assert pred.baseline == "harris"
    files = label_files(DATA)
    assert len(list((baseline_model / "baseline_h0").glob("*.npy"))) == len(files)
    errors_model, errors_h0 = [], []
    for path in files:
        lab = read_label(path)
        graph = pred.graph(lab.symbols, lab.positions_a, lab.cell_a)
        h0 = HarrisBaseline(lab.atoms(), lab.settings).hamiltonian_ha()
        full = pred.predict_gamma(graph)
        np.testing.assert_allclose(full - pred.predict_network_gamma(graph), h0, atol=1e-12)
        errors_model.append(np.abs(full - lab.hamiltonian_ha).mean())
        errors_h0.append(np.abs(h0 - lab.hamiltonian_ha).mean())
    assert np.mean(errors_model) < 0.5 * np.mean(errors_h0), (errors_model, errors_h0)


def test_error_breakdown_reports_the_learnt_correction_of_a_baseline_model(baseline_model, tmp_path):
    """``benchmarks/h_error_breakdown.py`` on a ΔH model: summed over its parts, the error is the
    MAE of H_pred - H_DFT and the correction column the MAE of H_DFT - H_0 (meV); H_0 is read from
    and kept in the cache given."""
    import importlib.util
    import sys

    from mlh_ipi.electronic.compare import MEV
    from mlh_ipi.model.predictor import HamiltonianPredictor

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("h_error_breakdown", root / "benchmarks" / "h_error_breakdown.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)

    pred = HamiltonianPredictor.load(baseline_model / "best.pt")
    files = label_files(DATA)
    cache = tmp_path / "h0"
    tables = bench.breakdown(pred, files, baseline_cache=cache)
    assert len(list(cache.glob("*.npy"))) == len(files)
    err, corr, n = [], [], 0
    for path in files:
        lab = read_label(path)
        h0 = HarrisBaseline(lab.atoms(), lab.settings).hamiltonian_ha()
        full = pred.predict_gamma(pred.graph(lab.symbols, lab.positions_a, lab.cell_a))
        err.append(np.abs(full - lab.hamiltonian_ha).sum() * MEV)
        corr.append(np.abs(lab.hamiltonian_ha - h0).sum() * MEV)
        n += lab.hamiltonian_ha.size
    for kind, rows in tables.items():
        assert sum(r["elements"] for r in rows) == n, kind
        # the cache keeps H_0 in float32 (~1e-7 Ha): agreement to that rounding
        assert sum(r["mae_mev"] * r["elements"] for r in rows) == pytest.approx(sum(err), rel=1e-3)
        assert sum(r["mae_correction_mev"] * r["elements"] for r in rows) == pytest.approx(sum(corr), rel=1e-3)
        for r in rows:
            assert r["captured_pct"] == pytest.approx(100 * (1 - r["mae_mev"] / r["mae_correction_mev"]))
    assert "captured (%)" in bench.markdown(tables)


def test_eigenvalue_term_of_a_baseline_model_sees_h0_plus_delta(baseline_model, tmp_path):
    """With a baseline the network's target is ΔH, but the eigenvalue term compares the
    eigenvalues of H_0 + ΔH_pred with those of the label's H: fed the exact ΔH it sees no error,
    fed ΔH + c S a shift c (the plain term) and none (shift-free)."""
    import dataclasses

    import torch

    from mlh_ipi.model.network import ModelConfig
    from mlh_ipi.model.training import Trainer, TrainConfig, generalized_eigenvalues

    cfg = TrainConfig(folders=(str(DATA),), output=str(tmp_path / "run"), epochs=1, progress=False,
                      split=(1.0, 0.0, 0.0), eigenvalue_weight=0.1,
                      baseline_cache=str(baseline_model / "baseline_h0"),  # the fixture's H_0, reused
                      model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6,
                                        radial_hidden=16, baseline="harris"))
    trainer = Trainer(cfg)
    g = trainer.train_graphs[0]
    lab = next(read_label(f) for f in label_files(DATA) if read_label(f).positions_a.tobytes()
               == np.asarray(g.positions_a, dtype=np.float64).tobytes())
    np.testing.assert_allclose(g.hamiltonian_ha + g.baseline_ha, lab.hamiltonian_ha, atol=1e-6)
    assert np.abs(g.baseline_ha).max() > 0.1 and np.abs(g.hamiltonian_ha).max() < np.abs(lab.hamiltonian_ha).max()
    _, e_ref, _, _ = trainer._eigen_target(g)
    s = torch.as_tensor(lab.overlap, dtype=trainer.dtype)
    torch.testing.assert_close(e_ref, generalized_eigenvalues(torch.as_tensor(lab.hamiltonian_ha, dtype=trainer.dtype), s))
    delta = torch.as_tensor(g.hamiltonian_ha, dtype=trainer.dtype)
    assert float(trainer._eigenvalue_error(g, delta)) < 1e-5
    c = 0.01  # Hartree
    shifted = delta + c * s
    assert float(trainer._eigenvalue_error(g, shifted)) == pytest.approx(c, rel=1e-3)
    trainer.config = dataclasses.replace(trainer.config, eigenvalue_shift_free=True)
    assert float(trainer._eigenvalue_error(g, shifted)) < 1e-5


def test_baseline_model_serves_forces_that_are_minus_the_energy_gradient(baseline_model, monkeypatch):
    """MLHCalculator with a ΔH model: consistent forces (network and H_0 geometry derivatives)
    equal central differences of the served energy to 2 meV/Å; h_core is built once for E + F."""
    from pyscf.pbc.scf import hf as pbc_hf

    from mlh_ipi.calculator import MLHCalculator
    from mlh_ipi.energy.functional import KohnShamFunctional
    from mlh_ipi.model.predictor import HamiltonianPredictor

    pred = HamiltonianPredictor.load(baseline_model / "best.pt")
    atoms = _si2((0.12, 0.05, -0.03))
    atoms.calc = MLHCalculator(pred, committee_energy_spread=False)
    builds = []
    get_hcore = pbc_hf.SCF.get_hcore
    monkeypatch.setattr(pbc_hf.SCF, "get_hcore", lambda self, *a, **k: builds.append(1) or get_hcore(self, *a, **k))
    forces = atoms.get_forces()
    energy = atoms.get_potential_energy()
    assert len(builds) == 1  # shared by the functional, H_0 and the two gradient passes of its force term
    monkeypatch.undo()

    def served_energy(at):
        graph = pred.graph(at.get_chemical_symbols(), at.get_positions(), at.cell.array)
        return KohnShamFunctional(at, pred.settings).evaluate(pred.predict_gamma(graph), forces=False).energy_ev

    assert served_energy(atoms) == pytest.approx(energy, abs=1e-8)
    # the stream's h_only mode (no energy functional) sees the same H_0 + ΔH and the same S
    h_only = MLHCalculator(pred, mode="h_only")
    h_only.calculate(atoms.copy(), properties=[])
    np.testing.assert_allclose(h_only.eigensystem["mo_energy_ha"], atoms.calc.eigensystem["mo_energy_ha"],
                               atol=1e-10)
    np.testing.assert_allclose(h_only.eigensystem["overlap"], atoms.calc.eigensystem["overlap"], atol=1e-12)
    step = 2e-3
    for i, k in [(0, 0), (0, 2), (1, 1)]:
        e = []
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, k] += sign * step
            e.append(served_energy(moved))
        fd = -(e[0] - e[1]) / (2 * step)
        assert abs(forces[i, k] - fd) < 2e-3, (i, k, forces[i, k], fd)


def test_baseline_errors_are_clear():
    from mlh_ipi.model.network import ModelConfig

    with pytest.raises(ValueError, match="unknown Hamiltonian baseline 'atoms'"):
        ModelConfig(baseline="atoms")
    with pytest.raises(ValueError, match="needs atoms and settings"):
        HarrisBaseline()
    base = HarrisBaseline(_si2(), CHEAP)
    with pytest.raises(ValueError, match="does not match the basis"):
        base.vjp_ha_bohr(np.zeros((3, 3)))


def test_models_without_a_baseline_load_as_before():
    """Checkpoints written before the option existed have no baseline and predict H directly."""
    from mlh_ipi.model.predictor import HamiltonianPredictor

    shipped = Path(__file__).parents[1] / "examples" / "sio2_vo" / "model" / "best.pt"
    pred = HamiltonianPredictor.load(shipped)
    assert pred.baseline == ""
    assert pred.harris_baseline(None) is None


def test_committee_of_baseline_members_adds_one_h0_and_scores_on_the_network_spread(baseline_model, monkeypatch):
    """A committee of ΔH members: mean H and mean geometry derivative equal the members' own
    (each with H_0), the spread is the networks' spread (H_0 is common, built once), and a
    member with a different baseline is refused."""
    import torch

    from mlh_ipi.dft import harris
    from mlh_ipi.model.committee import Committee
    from mlh_ipi.model.predictor import HamiltonianPredictor
    from mlh_ipi.workflows.al_mlh import committee_uncertainty

    first = HamiltonianPredictor.load(baseline_model / "best.pt")
    second = HamiltonianPredictor.load(baseline_model / "best.pt")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in second.model.parameters():
            p.add_(1e-2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    committee = Committee([first, second])
    assert committee.baseline == "harris"
    atoms = _si2((0.1, -0.02, 0.05))
    graph = committee.graph(atoms.get_chemical_symbols(), atoms.get_positions(), atoms.cell.array)

    built = []
    original = harris.HarrisBaseline.__init__
    monkeypatch.setattr(harris.HarrisBaseline, "__init__",
                        lambda self, *a, **k: (built.append(1), original(self, *a, **k))[1])
    pred = committee.predict_gamma(graph)
    assert len(built) == 1  # one H_0 for the whole committee
    members = [first.predict_gamma(graph), second.predict_gamma(graph)]
    np.testing.assert_allclose(pred.mean, np.mean(members, axis=0), atol=1e-12)
    np.testing.assert_allclose(pred.std, np.std(members, axis=0), atol=1e-12)
    assert pred.max_std > 1e-5  # the perturbed member really differs

    built.clear()
    assert committee.network_spread(graph) == pytest.approx(pred.max_std, rel=1e-9)
    assert committee_uncertainty(committee, atoms) == pytest.approx(pred.max_std * 27.211386245988, rel=1e-6)
    assert not built  # the active-learning score never builds H_0

    base = first.harris_baseline(graph)
    g = _weights(graph.nao, seed=1)
    np.testing.assert_allclose(committee.gamma_vjp(graph, g, baseline=base),
                               0.5 * (first.gamma_vjp(graph, g, base) + second.gamma_vjp(graph, g, base)),
                               atol=1e-10)

    import dataclasses

    plain = HamiltonianPredictor.load(baseline_model / "best.pt")
    plain.model.config = dataclasses.replace(plain.model.config, baseline="")
    with pytest.raises(ValueError, match="different baselines"):
        Committee([first, plain])


def test_h0_cache_is_float32_on_disk_and_reused(tmp_path):
    """subtract_harris_baseline keeps H_0 per structure in the cache (float32) and a second pass
    reads it instead of recomputing: ΔH equal to float32 rounding, no new file."""
    from types import SimpleNamespace

    from mlh_ipi.dft.harris import subtract_harris_baseline

    lab = read_label(label_files(DATA)[0])

    def graph():
        return SimpleNamespace(name="g", symbols=lab.symbols, positions_a=lab.positions_a, cell_a=lab.cell_a,
                               hamiltonian_ha=lab.hamiltonian_ha.copy())

    first, second = graph(), graph()
    subtract_harris_baseline([first], lab.settings, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.glob("*.npy")
    assert np.load(cached).dtype == np.float32
    stamp = cached.stat().st_mtime_ns
    subtract_harris_baseline([second], lab.settings, cache_dir=tmp_path, progress=False)
    assert cached.stat().st_mtime_ns == stamp and len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_allclose(second.hamiltonian_ha, first.hamiltonian_ha, atol=1e-6)
    assert np.abs(second.hamiltonian_ha - first.hamiltonian_ha).max() > 0  # it was read, rounded


def test_baseline_cache_path_resolves_against_the_config_file(tmp_path):
    from mlh_ipi.model.training import TrainConfig

    toml = tmp_path / "sub" / "train.toml"
    toml.parent.mkdir()
    toml.write_text('[data]\nfolders = ["labels"]\n[training]\nbaseline_cache = "../h0"\n')
    cfg = TrainConfig.from_toml(toml)
    assert Path(cfg.baseline_cache) == toml.parent / "../h0"
    assert cfg.output == str(toml.parent / "h_model")


def test_eval_reads_the_training_runs_h0_cache_and_scores_like_a_fresh_build(baseline_model, tmp_path):
    """``evaluate_labels(..., baseline_cache=...)`` finds the H_0 the training stored (same key from
    the label's geometry and the model's settings: no new file), and its errors equal those with
    H_0 built afresh to float32 rounding; a new cache folder is filled, one file per label."""
    from mlh_ipi.evaluation import evaluate_labels
    from mlh_ipi.model.predictor import HamiltonianPredictor

    pred = HamiltonianPredictor.load(baseline_model / "best.pt")
    files = label_files(DATA)
    cache = baseline_model / "baseline_h0"
    before = sorted(p.name for p in cache.glob("*.npy"))
    cached = evaluate_labels(pred, files, baseline_cache=cache)
    assert sorted(p.name for p in cache.glob("*.npy")) == before
    fresh = evaluate_labels(pred, files)
    for a, b in zip(cached.rows, fresh.rows):
        assert a["h_mae_mev"] == pytest.approx(b["h_mae_mev"], abs=1e-3)
        assert a["gap_error_mev"] == pytest.approx(b["gap_error_mev"], abs=1e-3)
    evaluate_labels(pred, files[:1], baseline_cache=tmp_path / "new")
    assert len(list((tmp_path / "new").glob("*.npy"))) == 1
