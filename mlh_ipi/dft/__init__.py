"""DFT reference backend (PySCF periodic DFT). The only place, with ``energy/``, that imports PySCF.

Import submodules explicitly (``from mlh_ipi.dft.label import label``); this
package file stays import-light so that ``mlh_ipi.dft.settings`` can be read by
code that must not pull PySCF in.
"""
