"""Fixtures shared by the formation-workflow tests: a tiny SiO2 MLH and a rattled quartz host.

The model is trained on the 9-atom quartz labels (``tests/data/sio2_tiny``, 250 Ha)
for 40 epochs (~15 s); it checks workflows (energies, E_f arithmetic, files,
resume, errors), not converged physics.
"""
import sys
from pathlib import Path

import pytest
from ase.io import write

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "sio2_tiny"
E_O2_EV = -870.0  # a stand-in for E(O2) (eV): the tests check the arithmetic, not the number
sys.path.insert(0, str(ROOT / "tests" / "data"))
from make_sio2_tiny import alpha_quartz  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(train_tiny_mlh):
    return train_tiny_mlh(DATA, epochs=40, name="sio2_model")


@pytest.fixture(scope="module")
def quartz(tmp_path_factory):
    at = alpha_quartz()
    at.rattle(0.02, seed=7)
    path = tmp_path_factory.mktemp("host") / "quartz.extxyz"
    write(path, at)
    return path
