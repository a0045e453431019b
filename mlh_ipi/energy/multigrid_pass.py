"""One multigrid density pass for E_KS[D], the KS matrix F[D] and the potential's gradient integrals.

The consistent force of ``mlh_ipi.energy.functional`` needs, at one density D:

* the energy E_KS[D] and the potential matrix V_Hxc[D] (PySCF's ``get_veff``,
  multigrid ``nr_rks``), and
* the gradient integrals <d mu | V_Hxc | nu> (PySCF's ``get_veff_ip1``, called
  inside the nuclear gradient).

PySCF computes the two in separate calls, and each call collocates D on the
grids, FFTs the density and its gradient, evaluates the functional and FFTs the
potential back. Here that is done once, and the potential's real-space form on
each grid level feeds both integrations (``deriv=0``, Hermitian, and
``deriv=1``). The steps and conventions are those of PySCF 2.14
``pyscf.pbc.dft.multigrid.multigrid_pair`` (``nr_rks``, ``get_veff_ip1``,
``_get_j_pass2``, ``_get_j_pass2_ip1``), using its private helpers, so the
PySCF version is pinned and the test suite checks the result against
``energy_tot``, ``get_veff`` and ``get_veff_ip1`` to 1e-9.

Gamma point, closed shell, LDA or GGA (the multigrid GGA ``"FFT"`` method),
xc functional with the Coulomb potential on the grid (``xc_with_j``). Atomic
units throughout (Hartree, Bohr).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PotentialPass:
    """Products of one density pass (Hartree, AO basis, Gamma point)."""

    coulomb_energy_ha: float  # electron-electron + long-range local PP part (multigrid convention)
    xc_energy_ha: float
    veff_ha: np.ndarray | None  # (nao, nao): V_H + V_xc (+ long-range local PP), as get_veff; None if not asked for
    veff_ip1: np.ndarray      # (3, nao, nao): as multigrid get_veff_ip1


def supported(mf) -> bool:
    """Whether ``mf`` is a Gamma-point multigrid (version 2) RKS this pass reproduces."""
    from pyscf.pbc.dft.multigrid import multigrid_pair as mp

    ni = getattr(mf, "_numint", None)
    if not isinstance(ni, mp.MultiGridNumInt) or not getattr(ni, "xc_with_j", False):
        return False
    if mp.GGA_METHOD.upper() != "FFT" or ni._xc_type(mf.xc) not in ("LDA", "GGA"):
        return False
    return not mf.do_nlc() and not ni.libxc.is_hybrid_xc(mf.xc)


def potential_pass(mf, dm: np.ndarray, with_veff: bool = True) -> PotentialPass:
    """E_coul, E_xc, V_eff and its gradient integrals of ``mf`` at the AO density matrix ``dm``.

    ``with_veff=False`` skips the Hermitian integration (``veff_ha`` is None):
    the Hellmann-Feynman force needs only the energy and the gradient integrals.

    Leaves rho(G) in ``mf._numint.rhoG``, where PySCF's local-pseudopotential
    gradient looks for it (as ``get_veff_ip1`` does); the caller clears it.
    """
    from pyscf.pbc import tools
    from pyscf.pbc.dft.multigrid import multigrid_pair as mp

    if not supported(mf):
        raise NotImplementedError("the fused pass needs Gamma-point multigrid RKS (LDA/GGA, no hybrid/NLC)")
    ni, cell = mf._numint, mf.cell
    mesh = np.asarray(ni.mesh)
    ngrids = int(np.prod(mesh))
    kpts = np.zeros((1, 3))
    xctype = ni._xc_type(mf.xc)
    deriv = 1 if xctype == "GGA" else 0
    dm = np.asarray(dm, order="C")

    # one task list for the Hermitian passes and the (non-Hermitian) gradient pass
    task_list = mp._update_task_list(ni, hermi=0, ntasks=ni.ntasks, ke_ratio=ni.ke_ratio,
                                     rel_cutoff=ni.rel_cutoff)
    rho_g = mp._eval_rhoG(ni, dm, hermi=1, kpts=kpts, deriv=deriv)  # (1, 1 or 4, ngrids)
    ni.rhoG = rho_g

    v_g = rho_g[0, 0] * tools.get_coulG(cell, mesh=mesh)
    part1 = ni.vpplocG_part1
    if part1 is not None:
        e_coul = 0.5 * np.vdot(rho_g[0, 0], v_g + 2 * part1).real / cell.vol
        v_g = v_g + part1
    else:
        e_coul = 0.5 * np.vdot(rho_g[0, 0], v_g).real / cell.vol

    weight = cell.vol / ngrids
    rho_r = tools.ifft(rho_g.reshape(-1, ngrids), mesh).real * (1.0 / weight)
    exc, vxc = ni.eval_xc_eff(mf.xc, rho_r, deriv=1, xctype=xctype)[:2]
    e_xc = float(np.dot(rho_r[0], exc) * weight)
    wv = tools.fft(np.asarray(vxc).reshape(-1, ngrids) * weight, mesh).reshape(-1, ngrids)
    if xctype == "GGA":
        wv[0] -= np.einsum("xg,gx->g", wv[1:4], 1j * cell.get_Gv(mesh))
    wv = wv[0] + v_g
    rho_r = rho_g = exc = vxc = None

    nao = cell.nao_nr()
    veff = np.zeros((nao, nao)) if with_veff else None
    veff_ip1 = np.zeros((3, nao, nao))
    wv = wv.reshape(1, *mesh)
    for level, sub_mesh in enumerate(task_list.gridlevel_info.mesh):
        freqs = [np.fft.fftfreq(m, 1.0 / m).astype(np.int32) for m in sub_mesh]
        sub_v = mp._take_4d(wv, (None, *freqs)).reshape(1, -1)
        v_r = np.asarray(tools.ifft(sub_v, sub_mesh).real, order="C")
        if with_veff:
            veff += np.asarray(mp.eval_mat(cell, v_r, task_list, comp=1, hermi=1, xctype="LDA",
                                           kpts=kpts, grid_level=level, mesh=sub_mesh)).reshape(nao, nao)
        veff_ip1 += np.asarray(mp.eval_mat(cell, v_r, task_list, comp=3, hermi=0, deriv=1, xctype="LDA",
                                           kpts=kpts, grid_level=level, mesh=sub_mesh)).reshape(3, nao, nao)
    return PotentialPass(float(e_coul), e_xc, veff, veff_ip1)
