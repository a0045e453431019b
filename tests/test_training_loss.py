"""The ``loss`` option of the H training: both losses learn, bad names are refused."""
import json

import pytest
import torch

import mlh_ipi.model  # noqa: F401
from mlh_ipi.model.network import ModelConfig
from mlh_ipi.model.training import TrainConfig, train

from pathlib import Path

DATA = Path(__file__).parent / "data" / "sio2_tiny"
TINY = ModelConfig(cutoff_h=4.5, cutoff_mp=3.0, num_layers=1, num_basis=4, radial_hidden=8,
                   hidden_irreps="4x0e+2x1o+2x1e+2x2e+2x2o")


@pytest.mark.parametrize("loss", ["mae", "rmse"])
def test_both_losses_reduce_the_h_mae(tmp_path, loss):
    torch.set_num_threads(1)
    cfg = TrainConfig(folders=(str(DATA),), model=TINY, output=str(tmp_path / loss), epochs=15, batch_size=2,
                      lr=1e-2, progress=False, split=(1.0, 0.0, 0.0), loss=loss)
    summary = train(cfg)
    history = json.loads((tmp_path / loss / "metrics.json").read_text())["history"]
    assert summary["train_mae_mev"] < 0.75 * history[0]["train_mae_mev"]
    saved = json.loads((tmp_path / loss / "metrics.json").read_text())["train_config"]
    assert saved["loss"] == loss


def test_unknown_loss_and_dtype_are_refused():
    with pytest.raises(ValueError, match="loss must be"):
        TrainConfig(loss="huber")
    with pytest.raises(ValueError, match="dtype must be"):
        TrainConfig(dtype="float16")
    with pytest.raises(ValueError, match="loss must be"):
        TrainConfig.from_dict({"data": {"folders": ["x"]}, "training": {"loss": "l2"}})


def test_lbfgs_polish_improves_and_is_recorded_once(tmp_path):
    """The L-BFGS polish lowers the training MAE below Adam's, keeps best.pt consistent, and resume skips it."""
    torch.set_num_threads(1)
    cfg = TrainConfig(folders=(str(DATA),), model=TINY, output=str(tmp_path / "p"), epochs=10, batch_size=2,
                      lr=1e-2, progress=False, split=(1.0, 0.0, 0.0), loss="rmse", lbfgs_steps=40,
                      dtype="float64")
    summary = train(cfg)
    history = json.loads((tmp_path / "p" / "metrics.json").read_text())["history"]
    adam_best = min(h["train_mae_mev"] for h in history if h.get("phase") != "lbfgs")
    polish = [h for h in history if h.get("phase") == "lbfgs"]
    assert len(polish) == 1 and polish[0]["improved"]
    assert polish[0]["train_mae_mev"] < 0.9 * adam_best
    assert summary["train_mae_mev"] == pytest.approx(polish[0]["train_mae_mev"], rel=1e-9)
    train(cfg, resume=True)  # finished run: nothing new, the polish is not repeated
    history = json.loads((tmp_path / "p" / "metrics.json").read_text())["history"]
    assert sum(h.get("phase") == "lbfgs" for h in history) == 1


def test_negative_lbfgs_steps_are_refused():
    with pytest.raises(ValueError, match="lbfgs_steps"):
        TrainConfig(lbfgs_steps=-1)


def test_init_from_continues_from_earlier_weights(tmp_path):
    """A run started from an earlier best.pt begins at that model's error, not at a fresh model's."""
    torch.set_num_threads(1)
    base = dict(folders=(str(DATA),), model=TINY, batch_size=2, progress=False, split=(1.0, 0.0, 0.0))
    first = train(TrainConfig(**base, output=str(tmp_path / "a"), epochs=12, lr=1e-2))
    fresh = train(TrainConfig(**base, output=str(tmp_path / "fresh"), epochs=1, lr=1e-12))
    cont = train(TrainConfig(**base, output=str(tmp_path / "b"), epochs=1, lr=1e-12,
                             init_from=str(tmp_path / "a" / "best.pt")))
    assert cont["train_mae_mev"] == pytest.approx(first["train_mae_mev"], rel=1e-3)
    assert cont["train_mae_mev"] < 0.8 * fresh["train_mae_mev"]
    wrong = TrainConfig(**{**base, "model": ModelConfig(**{**TINY.to_dict(), "cutoff_h": 5.0})},
                        output=str(tmp_path / "c"), epochs=1, init_from=str(tmp_path / "a" / "best.pt"))
    with pytest.raises(ValueError, match="cutoffs"):
        train(wrong)


def test_init_from_with_another_cutoff_h_keeps_every_weight_when_asked(tmp_path):
    """``init_cutoff_h_change``: a model with a shorter pair cutoff starts from all weights of a
    longer-range one; only the pair radial basis (Bessel frequencies pi n / r_H) and the pair count
    follow the new cutoff, and the model trains on. cutoff_mp must still match."""
    import math

    from mlh_ipi.model.checkpoint import load_model

    torch.set_num_threads(1)
    base = dict(folders=(str(DATA),), batch_size=2, progress=False, split=(1.0, 0.0, 0.0))
    train(TrainConfig(**base, model=TINY, output=str(tmp_path / "a"), epochs=2, lr=1e-2))
    old, old_ckpt = load_model(tmp_path / "a" / "best.pt")
    shorter = ModelConfig(**{**TINY.to_dict(), "cutoff_h": 3.5})
    summary = train(TrainConfig(**base, model=shorter, output=str(tmp_path / "b"), epochs=2, lr=1e-12,
                                init_from=str(tmp_path / "a" / "best.pt"), init_cutoff_h_change=True))
    new, new_ckpt = load_model(tmp_path / "b" / "best.pt")
    assert new.config.cutoff_h == 3.5 and new_ckpt["model_config"]["cutoff_h"] == 3.5
    assert new.config.avg_num_pairs < old.config.avg_num_pairs
    old_params, new_params = dict(old.named_parameters()), dict(new.named_parameters())
    assert old_params.keys() == new_params.keys()
    for name, p in old_params.items():  # lr 1e-12: the weights are the old ones
        torch.testing.assert_close(new_params[name], p, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(new.radial_h.basis.freq[0].double(), torch.tensor(math.pi / 3.5, dtype=torch.float64))
    assert math.isfinite(summary["train_mae_mev"])
    other_mp = ModelConfig(**{**TINY.to_dict(), "cutoff_h": 3.5, "cutoff_mp": 2.5})
    with pytest.raises(ValueError, match="cutoffs"):
        train(TrainConfig(**base, model=other_mp, output=str(tmp_path / "c"), epochs=1,
                          init_from=str(tmp_path / "a" / "best.pt"), init_cutoff_h_change=True))
    with pytest.raises(ValueError, match="init_cutoff_h_change"):
        train(TrainConfig(**base, model=shorter, output=str(tmp_path / "d"), epochs=1,
                          init_from=str(tmp_path / "a" / "best.pt")))


def test_block_weights_mark_onsite_and_near_pairs():
    """On-site elements get onsite_weight, elements of pairs closer than the cutoff near_weight, the rest 1."""
    import numpy as np
    from ase.geometry import get_distances

    from mlh_ipi.data.labelfile import read_label
    from mlh_ipi.model.block_weights import gamma_weights

    lab = read_label(sorted(DATA.glob("*.label.npz"))[0])
    off = lab.atom_offsets
    w = gamma_weights(lab.positions_a, lab.cell_a, off, onsite=7.0, near=3.0, near_cutoff_a=2.0)
    nao = off[-1]
    w = w.reshape(nao, nao)
    assert np.array_equal(w, w.T)
    _, dist = get_distances(lab.positions_a, cell=lab.cell_a, pbc=True)
    n_near = 0
    for i in range(lab.natoms):
        for j in range(lab.natoms):
            block = w[off[i]:off[i + 1], off[j]:off[j + 1]]
            expected = 7.0 if i == j else (3.0 if dist[i, j] < 2.0 else 1.0)
            n_near += expected == 3.0
            assert np.all(block == expected)
    assert n_near > 0 and (w == 1.0).any()  # the tiny quartz cell has bonds and farther pairs


def test_weighted_loss_is_the_weighted_mean_of_the_errors(tmp_path):
    """The block-weighted loss equals sum(w e^2)/sum(w) (rmse) computed by hand."""
    from mlh_ipi.model.block_weights import gamma_weights
    from mlh_ipi.model.training import Trainer, gamma_errors

    torch.set_num_threads(1)
    cfg = TrainConfig(folders=(str(DATA),), model=TINY, output=str(tmp_path / "w"), epochs=1, batch_size=2,
                      progress=False, split=(1.0, 0.0, 0.0), loss="rmse", onsite_weight=5.0, near_weight=2.0,
                      dtype="float64")
    tr = Trainer(cfg)
    tr._fresh_state()
    chunk = tr.train_graphs[:2]
    from mlh_ipi.model.batch import collate

    batch = collate(chunk, torch.float64)
    loss, _ = tr._loss(chunk, batch)
    err = gamma_errors(tr.model, batch).detach()
    w = torch.cat([torch.as_tensor(gamma_weights(g.positions_a, g.cell_a, g.atom_offsets, 5.0, 2.0, 2.0))
                   for g in chunk])
    assert float(loss.detach()) == pytest.approx(float(((w * err.square()).sum() / w.sum()).sqrt()), rel=1e-12)
    assert float(loss.detach()) != pytest.approx(float(err.square().mean().sqrt()), rel=1e-3)


def test_onsite_weight_lowers_the_onsite_error(tmp_path):
    """Weighting the on-site blocks makes the trained model fit them better than the unweighted loss does."""
    from mlh_ipi.model.batch import collate
    from mlh_ipi.model.block_weights import gamma_weights
    from mlh_ipi.model.training import Trainer, gamma_errors

    torch.set_num_threads(1)
    base = dict(folders=(str(DATA),), model=TINY, epochs=15, batch_size=2, lr=1e-2, progress=False,
                split=(1.0, 0.0, 0.0), loss="rmse")

    def onsite_mae(weight):
        cfg = TrainConfig(**base, output=str(tmp_path / f"w{weight}"), onsite_weight=weight)
        tr = Trainer(cfg)
        tr.run()
        graphs = tr.train_graphs
        with torch.no_grad():
            err = gamma_errors(tr.model.eval(), collate(graphs, tr.dtype)).abs()
        mask = torch.cat([torch.as_tensor(gamma_weights(g.positions_a, g.cell_a, g.atom_offsets, 2.0, 1.0, 0.0))
                          for g in graphs]) == 2.0
        history = json.loads((tmp_path / f"w{weight}" / "metrics.json").read_text())["history"]
        return float(err[mask].mean()), history

    plain, _ = onsite_mae(1.0)
    weighted, history = onsite_mae(30.0)
    assert weighted < 0.8 * plain
    assert "val_weighted_mae_mev" not in history[0]  # no validation set here


def test_bad_block_weights_are_refused():
    with pytest.raises(ValueError, match="onsite_weight"):
        TrainConfig(onsite_weight=0.0)
    with pytest.raises(ValueError, match="near_cutoff_a"):
        TrainConfig(near_cutoff_a=-1.0)
