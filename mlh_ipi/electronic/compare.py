"""Compare a predicted Hamiltonian with the DFT one: the error measures the benchmarks report.

All inputs in Hartree (Gamma matrices, same overlap); all outputs in meV.

* ``h_mae``: mean |H_pred - H_dft| over all matrix elements;
* ``eigenvalue_mae``: mean |e_pred - e_dft| over the states within +-3 eV of
  the DFT gap (edges from closed-shell filling, states paired by index);
* ``gap_error``: host-like gap (defect states excluded) difference;
* ``defect_level_error``: difference of the in-gap levels (relative to the VBM)
  when both Hamiltonians show the same number of levels;
* ``gap_error_matched``, ``defect_level_error_matched``: the same two read off
  the predicted eigenvalues of the states DFT classifies as VBM, CBM and in-gap
  levels (paired by index). The unmatched errors let each Hamiltonian classify its
  own states, as the stream must without DFT; one state that crosses the
  localisation threshold on one side only moves them by the width of a level
  spacing, while the matched errors measure the eigenvalues alone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from mlh_ipi.electronic.defect_levels import find_defect_levels
from mlh_ipi.electronic.eigen import solve
from mlh_ipi.units import HARTREE

MEV = 1000.0 * HARTREE


@dataclass(frozen=True)
class HamiltonianErrors:
    h_mae_mev: float
    h_max_mev: float
    eigenvalue_mae_mev: float
    n_states_in_window: int
    gap_dft_ev: float
    gap_pred_ev: float
    gap_error_mev: float
    defect_level_error_mev: float | None  # None when the level counts differ or there are none
    gap_error_matched_mev: float | None = None  # predicted gap between DFT's VBM and CBM states - DFT gap
    defect_level_error_matched_mev: float | None = None  # DFT's in-gap states, relative to DFT's VBM state
    eigenvalue_mae_shift_aligned_mev: float | None = None  # the same states after removing c S (uniform_shift)

    def as_dict(self) -> dict:
        return asdict(self)


def compare_hamiltonians(h_pred: np.ndarray, h_dft: np.ndarray, overlap: np.ndarray,
                         offsets: np.ndarray, nelectron: int, defect_atoms=None,
                         window_ev: float = 3.0, valence_states: int | None = None,
                         resonance_ev: float = 0.0) -> HamiltonianErrors:
    """Errors of ``h_pred`` against ``h_dft`` (both Gamma, Hartree) with the same overlap.

    ``defect_atoms``, ``valence_states`` and ``resonance_ev`` go to
    :func:`~mlh_ipi.electronic.defect_levels.find_defect_levels` for both Hamiltonians."""
    diff = np.abs(h_pred - h_dft)
    e_d, c_d = solve(h_dft, overlap)
    e_p, c_p = solve(h_pred, overlap)
    nocc = nelectron // 2
    vbm, cbm = e_d[nocc - 1], e_d[nocc]
    w = window_ev / HARTREE
    sel = (e_d >= vbm - w) & (e_d <= cbm + w)
    picking = {"defect_atoms": defect_atoms, "valence_states": valence_states, "resonance_ev": resonance_ev}
    lv_d = find_defect_levels(e_d, c_d, overlap, offsets, nelectron, **picking)
    lv_p = find_defect_levels(e_p, c_p, overlap, offsets, nelectron, **picking)
    level_err = None
    if len(lv_d.levels_ev) and len(lv_d.levels_ev) == len(lv_p.levels_ev):
        level_err = float(np.mean(np.abs(lv_p.above_vbm_ev - lv_d.above_vbm_ev)) * 1000)
    gap_matched, levels_matched = errors_at_dft_states(e_p, e_d, lv_d)
    level_matched = float(np.mean(np.abs(levels_matched)) * 1000) if len(levels_matched) else None
    shift = uniform_shift(h_pred - h_dft, overlap)  # H - c S has the eigenvalues of H minus c, exactly
    return HamiltonianErrors(
        h_mae_mev=float(diff.mean() * MEV),
        h_max_mev=float(diff.max() * MEV),
        eigenvalue_mae_mev=float(np.abs(e_p[sel] - e_d[sel]).mean() * MEV),
        n_states_in_window=int(sel.sum()),
        gap_dft_ev=lv_d.gap_ev,
        gap_pred_ev=lv_p.gap_ev,
        gap_error_mev=float((lv_p.gap_ev - lv_d.gap_ev) * 1000),
        defect_level_error_mev=level_err,
        gap_error_matched_mev=gap_matched * 1000,
        defect_level_error_matched_mev=level_matched,
        eigenvalue_mae_shift_aligned_mev=float(np.abs(e_p[sel] - shift - e_d[sel]).mean() * MEV),
    )


def errors_at_dft_states(e_pred: np.ndarray, e_dft: np.ndarray, levels_dft) -> tuple[float, np.ndarray]:
    """Predicted − DFT errors (eV) read off the states DFT classifies (``levels_dft``, its
    :class:`~mlh_ipi.electronic.defect_levels.DefectLevels`), eigenvalues (Hartree) paired by index:
    the gap between DFT's VBM and CBM states, and each of DFT's in-gap states relative to its VBM state."""
    err = (np.asarray(e_pred) - np.asarray(e_dft)) * HARTREE
    iv, ic = levels_dft.vbm_index, levels_dft.cbm_index
    return float(err[ic] - err[iv]), err[np.asarray(levels_dft.state_indices, dtype=int)] - err[iv]


def uniform_shift(delta_h: np.ndarray, overlap: np.ndarray) -> float:
    """Least-squares ``c`` (Hartree) in ``delta_h ~ c S``: the constant-potential part of an H error.

    ``H + c S`` has the eigenvectors of ``H`` and eigenvalues shifted by ``c``;
    densities, total energies, gaps and levels relative to the band edges do not
    change. In a periodic cell the zero of the potential is a convention (G = 0
    term dropped), so this part of an error is physically empty.
    """
    return float(np.vdot(overlap, delta_h).real / np.vdot(overlap, overlap).real)
