"""The e3nn -> PySCF real-harmonic table Q_l, regenerated from PySCF's own AO values (l = 0..4)."""
import numpy as np
import pytest
import torch

import mlh_ipi.model  # noqa: F401  (before e3nn)
from e3nn import o3

from mlh_ipi.model.real_harmonics import LMAX, pyscf_from_e3nn


def _pyscf_angular(l: int, directions: np.ndarray) -> np.ndarray:
    """PySCF spherical AO values of one primitive of angular momentum l, on unit directions."""
    from pyscf import gto

    mol = gto.M(atom="He 0 0 0", basis={"He": [[l, (1.0, 1.0)]]}, unit="Bohr", spin=None, verbose=0)
    vals = mol.eval_gto("GTOval_sph", directions)  # |r| = 1: radial part is a constant
    return vals


@pytest.mark.parametrize("l", range(0, 5))
def test_table_matches_pyscf(l):
    assert LMAX >= 4
    rng = np.random.default_rng(l)
    dirs = rng.normal(size=(200, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    y_pyscf = _pyscf_angular(l, dirs)
    y_e3nn = o3.spherical_harmonics(l, torch.as_tensor(dirs), normalize=True).numpy()
    # Y_pyscf = c * Y_e3nn @ Q with c > 0 the radial/normalisation constant at |r| = 1
    fit, *_ = np.linalg.lstsq(y_e3nn, y_pyscf, rcond=None)
    np.testing.assert_allclose(y_e3nn @ fit, y_pyscf, atol=1e-10 * np.abs(y_pyscf).max())
    q = fit / np.sqrt(np.mean(np.sum(fit**2, axis=0)))
    Q = pyscf_from_e3nn(l)
    np.testing.assert_allclose(Q.T @ Q, np.eye(2 * l + 1), atol=1e-12)
    np.testing.assert_allclose(q, Q, atol=1e-10)


def test_beyond_table_is_an_error():
    with pytest.raises(ValueError, match="not supported"):
        pyscf_from_e3nn(LMAX + 1)
