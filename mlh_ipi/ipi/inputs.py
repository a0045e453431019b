"""i-PI input files for fixed-cell geometry optimisation, and readers for what i-PI writes.

i-PI stops a ``minimize`` run when *all* of its energy, force and position
tolerances are met; ``geop_xml`` sets the force tolerance from
``fmax_ev_per_a`` (max |force component|) and loose energy/position
tolerances so that the force criterion decides. Every step also writes i-PI's
own checkpoint (``PREFIX.chk``: positions and the optimiser's state, e.g. the
L-BFGS history), from which an interrupted run continues on the same path
(:mod:`mlh_ipi.ipi.relax`).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np

from mlh_ipi.units import HARTREE_PER_BOHR

OPTIMISERS = ("sd", "cg", "bfgs", "bfgstrm", "lbfgs", "damped_bfgs")

GEOP_TEMPLATE = """<simulation mode="static" verbosity="low" safe_stride="1">
  <output prefix="{prefix}">
    <properties stride="1" filename="out" flush="1">[ step, potential{{electronvolt}} ]</properties>
    <trajectory filename="pos" stride="1" format="xyz" cell_units="angstrom" flush="1">positions{{angstrom}}</trajectory>
    <trajectory filename="frc" stride="1" format="xyz" cell_units="angstrom" flush="1">forces{{ev/ang}}</trajectory>
    <trajectory filename="extras" stride="1" extra_type="raw" flush="1">extras</trajectory>
    <checkpoint filename="chk" stride="1" overwrite="true"/>
  </output>
  <total_steps>{max_steps}</total_steps>
  <prng><seed>31415</seed></prng>
  <ffsocket name="{ffname}" mode="{mode}" pbc="false">
    <address>{address}</address>{port_line}
    <latency>1e-3</latency>
  </ffsocket>
  <system>
    <initialize nbeads="1">
      <file mode="ase" units="angstrom">{init}</file>
    </initialize>
    <forces><force forcefield="{ffname}"/></forces>
    <motion mode="minimize">
      <optimizer mode="{optimizer}">
        <tolerances>
          <energy>{etol:.3e}</energy>
          <force>{ftol:.6e}</force>
          <position>{xtol:.3e}</position>
        </tolerances>
      </optimizer>
    </motion>
  </system>
</simulation>
"""


def geop_xml(init_file: str, address: str, prefix: str = "relax", optimizer: str = "lbfgs",
             fmax_ev_per_a: float = 0.02, max_steps: int = 500, unix: bool = True,
             port: int | None = None, ffname: str = "mlh") -> str:
    """The XML of a fixed-cell relaxation of ``init_file`` (extxyz, Angstrom) driven by a socket client."""
    if optimizer not in OPTIMISERS:
        raise ValueError(f"i-PI geop optimiser must be one of {OPTIMISERS}, got {optimizer!r}")
    if not unix and port is None:
        raise ValueError("an inet socket needs a port")
    return GEOP_TEMPLATE.format(
        prefix=prefix, max_steps=max_steps, ffname=ffname, mode="unix" if unix else "inet",
        address=address, port_line=f"\n    <port>{port}</port>" if not unix else "",
        init=init_file, optimizer=optimizer,
        etol=1e-3,                                  # Hartree per atom: loose, the force decides
        ftol=fmax_ev_per_a / HARTREE_PER_BOHR,      # Hartree/Bohr
        xtol=1.0,                                   # Bohr: loose, the force decides
    )


def read_properties(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of an i-PI ``*.out`` properties file, keyed by their names (units stripped).

    A last row cut short (i-PI killed while writing it) is dropped; a short row
    anywhere else is an error.
    """
    names, rows = [], []
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    for k, line in enumerate(lines):
        if line.startswith("#"):
            m = re.search(r"column\s+\d+\s+-->\s+(\S+)", line)
            if m:
                names.append(m.group(1).split("{")[0])
            continue
        try:
            row = [float(x) for x in line.split()]
        except ValueError:
            row = []
        if len(row) != len(names):
            if k == len(lines) - 1:
                break
            raise ValueError(f"{path}: row {len(rows)} has {len(row)} of {len(names)} columns")
        rows.append(row)
    data = np.array(rows).reshape(-1, len(names)) if rows else np.zeros((0, len(names)))
    return {n: data[:, k] for k, n in enumerate(names)}


def read_raw_extras(path: str | Path) -> list[dict]:
    """The client's per-step JSON extras from an ``extra_type="raw"`` trajectory, in step order.

    i-PI writes each step as the repr of a dict of per-bead lists, with the
    client's original JSON string under ``"raw"``; that string is decoded.
    """
    out, text = [], Path(path).read_text()
    for block in re.split(r"^\s*#EXTRAS\(raw\)# Step:\s+\d+\s*$", text, flags=re.M):
        block = block.strip()
        if block:
            data = ast.literal_eval(block)
            out.append(json.loads(data["raw"][0]) if "raw" in data else
                       {k: v[0] for k, v in data.items()})
    return out
