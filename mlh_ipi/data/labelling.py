"""Batch labelling with resume: one label file per structure, failures recorded, never fatal.

Layout of an output folder::

    OUT/
      000000.label.npz        finished labels (atomic writes; presence == done)
      000001.claim            structure 1 is being labelled by the process named inside
      failures.jsonl          one JSON line per failed structure (reason, time)
      manifest.json           settings and the input file, checked on resume

A rerun skips finished structures; failed ones are retried only with
``retry_failed=True``. Changing the DFT settings against an existing folder is
an error (labels in one folder share one settings object).
"""
from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from ase import Atoms
from tqdm.auto import tqdm

from mlh_ipi.atomic_io import write_json
from mlh_ipi.claims import release, try_claim
from mlh_ipi.data.labelfile import SUFFIX, label_files, read_label, read_label_geometry, write_label
from mlh_ipi.dft.settings import DFTSettings, check_compatible

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"


@dataclass
class BatchReport:
    done: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        return (f"{len(self.done)} labelled, {len(self.skipped)} already done, "
                f"{len(self.failed)} failed")


def label_path(out: Path, index: int) -> Path:
    return out / f"{index:06d}{SUFFIX}"


def _check_manifest(out: Path, settings: DFTSettings, source: str, n: int) -> None:
    path = out / MANIFEST
    if path.exists():
        old = json.loads(path.read_text())
        check_compatible(DFTSettings.from_dict(old["settings"]), settings, what=f"folder {out}")
        if old.get("n_structures") not in (None, n):
            log.warning("%s: manifest lists %s structures, input has %d", out, old.get("n_structures"), n)
    write_json(path, {"settings": settings.to_dict(), "source": source, "n_structures": n})


def _check_existing_labels(out: Path, structures: Sequence[Atoms], tol_a: float = 1e-4) -> None:
    """``ValueError`` if a label already in ``out`` is of another structure than the input at its
    index (a changed, reordered or resized input list): reusing it would pair one structure's
    DFT data with another's. Compared: element order, cell and positions modulo the lattice
    (``tol_a`` Angstrom, so text round-off of re-read frames passes). Reads only positions,
    cell and symbols of each file; labels beyond the input's length are left alone."""
    wrong = []
    for path in label_files(out):
        i = int(path.name.split(".")[0])
        if i >= len(structures):
            continue
        stored = read_label_geometry(path)
        pos, cell, symbols = stored.positions, stored.cell.array, stored.get_chemical_symbols()
        at = structures[i]
        same = symbols == at.get_chemical_symbols() and np.allclose(cell, at.cell.array, atol=tol_a)
        if same:
            frac = np.linalg.solve(cell.T, (np.asarray(at.positions) - pos).T).T
            d = (frac - np.round(frac)) @ cell
            same = bool(np.all(np.linalg.norm(d, axis=1) < tol_a))
        if not same:
            wrong.append(i)
    if wrong:
        raise ValueError(f"{out}: the existing label(s) {wrong[:10]}{' ...' if len(wrong) > 10 else ''} are of "
                         "other structures than the input at the same index (input list changed, reordered or "
                         "resized?). Label into a new folder, or move the stale labels away; nothing was "
                         "overwritten.")


def _initial_density(atoms: Atoms, density_guess, same_species):
    """``(dm0, name)``: the SCF start of one structure (see :func:`label_batch`)."""
    if density_guess is not None:
        try:
            return np.asarray(density_guess(atoms)), "density_guess"
        except Exception as err:  # a guess is an optimisation: never a reason to lose a label
            log.warning("density guess failed (%s: %s); starting from %s", type(err).__name__, err,
                        "the last density of this species list" if same_species is not None else "atoms")
    if same_species is not None:
        return same_species, "same_species"
    return None, "atomic"


def _claim(out: Path, index: int) -> bool:
    """Claim structure ``index`` for this process (``NNNNNN.claim``, :mod:`mlh_ipi.claims`)."""
    return try_claim(_claim_path(out, index))


def _claim_path(out: Path, index: int) -> Path:
    return out / f"{index:06d}.claim"


def failed_indices(out: Path) -> set[int]:
    path = Path(out) / FAILURES
    if not path.exists():
        return set()
    return {json.loads(line)["index"] for line in path.read_text().splitlines() if line.strip()}


def _density_guesses(folders: Sequence[str | Path], settings: DFTSettings) -> dict[tuple[str, ...], np.ndarray]:
    """Last density matrix per species list among the labels in ``folders`` with ``settings``' physics."""
    guesses: dict[tuple[str, ...], np.ndarray] = {}
    for folder in folders:
        for path in label_files(folder) if Path(folder).is_dir() else []:
            lab = read_label(path)
            if lab.settings.physics_key() == settings.physics_key():
                guesses[tuple(lab.symbols)] = np.asarray(lab.density_matrix, dtype=float)
    return guesses


def label_batch(structures: Sequence[Atoms], out: str | Path, settings: DFTSettings,
                source: str = "", retry_failed: bool = False,
                labeller: Callable | None = None, progress: bool = True,
                order: Sequence[int] | None = None,
                guess_from: Sequence[str | Path] = (), poll_s: float = 5.0,
                compact: bool = False,
                density_guess: Callable[[Atoms], np.ndarray] | None = None) -> BatchReport:
    """Label every structure into ``out``; resume-safe and failure-tolerant.

    ``labeller(atoms, settings, dm0=None) -> Label`` defaults to ``mlh_ipi.dft.label.label``.
    A structure whose species list (in atom order) was labelled before reuses the
    last converged density matrix of that species list as the SCF guess: from this
    batch, or else from the labels in ``guess_from`` folders (same DFT settings; e.g.
    earlier rounds of an active-learning run). Measured: a 63-atom V_Ga GaAs
    snapshot (Fermi-Dirac 0.1 eV) from another V_Ga snapshot's density took 33 SCF
    cycles instead of 46 from the atomic guess; a rattled Si8 cell took 8 either way. Any exception from one structure (bad input, non-converged SCF) is recorded
    in ``failures.jsonl`` and the batch moves on.

    ``order`` (default: input order) lists the indices to visit. Several processes
    may work on one folder (e.g. one with ``order=reversed(range(n))``): a structure
    is claimed (``NNNNNN.claim``, created exclusively) before it is computed, others
    skip it, and each process returns only when every structure it was given is
    labelled, waiting (``poll_s`` seconds between checks) for claims held by other
    live processes and taking over those of processes that died. Indices and file
    names do not depend on the order.

    ``compact`` writes compact label files (E, F and H only, the rest recomputed on
    read; :mod:`mlh_ipi.data.labelfile`).

    ``density_guess(atoms) -> D`` (optional) gives each structure its own SCF start,
    e.g. the density of a trained Hamiltonian model's H
    (:func:`mlh_ipi.density_guess.mlh_density_guess`); it replaces the species warm
    start, which stays the fallback if the guess raises. The label's
    ``info["scf_guess"]`` records which start was used (``"density_guess"``,
    ``"same_species"`` or ``"atomic"``).
    """
    if labeller is None:
        from mlh_ipi.dft.label import label as labeller
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, settings, source, len(structures))
    _check_existing_labels(out, structures)
    previously_failed = failed_indices(out)
    report = BatchReport()
    guesses = _density_guesses(guess_from, settings)  # species list -> last converged density matrix
    bar = tqdm(total=len(structures), desc="labelling", unit="struct", disable=not progress)

    def finished(i: int) -> bool:
        return label_path(out, i).exists() or (i in previously_failed and not retry_failed)

    def compute(i: int) -> None:
        atoms = structures[i]
        bar.set_postfix_str(f"{i}: {atoms.get_chemical_formula()}")
        t0 = time.perf_counter()
        try:
            species = tuple(atoms.get_chemical_symbols())
            dm0, start = _initial_density(atoms, density_guess, guesses.get(species))
            lab = labeller(atoms, settings, dm0=dm0)
            guesses[species] = lab.density_matrix
            lab.info.setdefault("source_index", i)
            lab.info["scf_guess"] = start
            write_label(label_path(out, i), lab, compact=compact)
            report.done.append(i)
            log.info("labelled %d (%s) in %.1f s", i, atoms.get_chemical_formula(), time.perf_counter() - t0)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # recorded, not fatal: one bad structure must not stop a batch
            reason = f"{type(err).__name__}: {err}"
            report.failed[i] = reason
            log.warning("structure %d failed: %s", i, reason)
            with open(out / FAILURES, "a") as fh:
                fh.write(json.dumps({"index": i, "reason": reason, "time": time.time(),
                                     "traceback": traceback.format_exc(limit=3)}) + "\n")
        finally:
            release(_claim_path(out, i))
        bar.update()

    elsewhere: list[int] = []  # claimed by another live process: wait for it at the end
    for i in range(len(structures)) if order is None else order:
        if finished(i):
            report.skipped.append(i)
            bar.update()
        elif _claim(out, i):
            compute(i)
        else:
            elsewhere.append(i)
    while elsewhere:
        for i in list(elsewhere):
            if finished(i):
                elsewhere.remove(i)
                report.skipped.append(i)
                bar.update()
            elif _claim(out, i):  # its process died: label it here
                elsewhere.remove(i)
                compute(i)
        if elsewhere:
            bar.set_postfix_str(f"waiting for {len(elsewhere)} labelled by another process")
            time.sleep(poll_s)
    bar.close()
    log.info("%s: %s", out, report.summary())
    return report
