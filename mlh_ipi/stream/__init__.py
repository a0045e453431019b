"""On-the-fly electronic statistics of MD snapshots: band gap, band edges and defect levels vs T.

Modules (data flows top to bottom):

* :mod:`.snapshots`: ``Snapshot`` (one frame + source, step, temperature, defect kind);
* :mod:`.sources`: trajectory files (extxyz, LAMMPS dumps), the LAMMPS snapshot hook's
  sink, i-PI client extras;
* :mod:`.workers`: bounded queue with a ``block``/``drop`` back-pressure policy, MLH worker
  processes (``MLHCalculator(mode="h_only")``), collector and checkpoints;
* :mod:`.statistics`: Welford/Chan mergeable moments and histograms per (T, defect);
* :mod:`.state`: processed-step index, counters, atomic JSON checkpoint;
* :mod:`.outputs`: CSV/JSON tables and PNG plots;
* :mod:`.dft_check`: per-snapshot MLH vs DFT labels of the same frames;
* :mod:`.run`: one-call drivers used by ``mlh-ipi stream``.

See docs/stream.md.
"""
