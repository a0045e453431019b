"""Fixtures shared by several test modules.

``one_torch_thread``: torch runs one thread during a test (opt in per module with
``pytestmark = pytest.mark.usefixtures("one_torch_thread")``).
``train_tiny_mlh``: trains a tiny MLH model on a folder of labels (a few seconds).
"""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def one_torch_thread():
    """torch.set_num_threads(1) for the test; the previous thread count afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def train_tiny_mlh(tmp_path_factory):
    """``train_tiny_mlh(data, epochs, name)``: ``best.pt`` of a tiny MLH model (cutoffs 6/4 Å,
    one layer) trained for ``epochs`` epochs on every label in ``data`` (folder ``name`` under
    pytest's temporary folder). Sets torch to one thread."""
    import torch

    from mlh_ipi.model.network import ModelConfig
    from mlh_ipi.model.training import TrainConfig, train

    def train_tiny(data: Path, epochs: int, name: str) -> Path:
        out = tmp_path_factory.mktemp(name)
        torch.set_num_threads(1)
        cfg = TrainConfig(folders=(str(data),), output=str(out), epochs=epochs, batch_size=2, lr=1e-2,
                          progress=False, split=(1.0, 0.0, 0.0),
                          model=ModelConfig(cutoff_h=6.0, cutoff_mp=4.0, num_layers=1, num_basis=6,
                                            radial_hidden=16, hidden_irreps="8x0e+4x1o+4x1e+2x2e"))
        train(cfg)
        return out / "best.pt"

    return train_tiny
