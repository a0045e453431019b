"""The MLH density as an SCF start: a proper density matrix for the DFT settings' basis."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlh_ipi.data.labelfile import label_files, read_label

DATA = Path(__file__).parent / "data" / "si2_cheap"


@pytest.fixture(scope="module")
def si2_model(train_tiny_mlh):
    return train_tiny_mlh(DATA, epochs=20, name="si2_guess_model")


def test_guess_is_a_symmetric_density_with_the_right_electron_count(si2_model):
    from mlh_ipi.density_guess import mlh_density_guess
    from mlh_ipi.dft.cell import gamma_overlap

    lab = read_label(label_files(DATA)[0])
    atoms = lab.atoms()
    atoms.positions[0] += [0.04, -0.02, 0.03]
    d = mlh_density_guess(si2_model)(atoms)
    s = gamma_overlap(atoms, lab.settings)
    assert d.shape == s.shape == lab.density_matrix.shape
    np.testing.assert_allclose(d, d.T, atol=1e-12)
    assert np.trace(d @ s) == pytest.approx(lab.nelectron, abs=1e-8)
    # idempotent in the S metric for integer occupations: (DS)^2 = 2 DS
    np.testing.assert_allclose(d @ s @ d @ s, 2 * d @ s, atol=1e-8)


def test_guess_refuses_k_point_settings(si2_model, monkeypatch):
    from mlh_ipi.calculator import MLHCalculator
    from mlh_ipi.density_guess import mlh_density_guess

    kpts = read_label(label_files(DATA)[0]).settings.with_(kmesh=(2, 2, 2))
    monkeypatch.setattr(MLHCalculator, "settings", property(lambda self: kpts))
    with pytest.raises(ValueError, match="Gamma-point"):
        mlh_density_guess(si2_model)


def test_guess_refuses_another_basis(si2_model):
    from mlh_ipi.density_guess import mlh_density_guess

    settings = read_label(label_files(DATA)[0]).settings
    mlh_density_guess(si2_model, settings)  # the model's own settings: fine
    with pytest.raises(ValueError, match="basis"):
        mlh_density_guess(si2_model, settings.with_(basis="gth-dzvp-molopt-sr"))


def test_label_cli_starts_from_the_model_density(si2_model, tmp_path):
    import json

    from ase.io import write

    from mlh_ipi.cli.main import main

    lab = read_label(label_files(DATA)[0])
    atoms = lab.atoms()
    atoms.positions[1] += [0.03, 0.0, -0.02]
    write(tmp_path / "f.extxyz", atoms)
    (tmp_path / "s.json").write_text(json.dumps(lab.settings.to_dict()))
    assert main(["label", str(tmp_path / "f.extxyz"), "--out", str(tmp_path / "labels"),
                 "--settings", str(tmp_path / "s.json"), "--guess-model", str(si2_model)]) == 0
    (made,) = label_files(tmp_path / "labels")
    assert read_label(made).info["scf_guess"] == "density_guess"
