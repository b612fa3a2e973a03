"""interop: other tools' files in and out. Timeloop/Sparseloop problem, architecture, mapping and
stats files (`timeloop.py`, `timeloop_stats.py`), a Timeloop design converted to an nmsim arch,
op and mapping (`timeloop_convert.py`) and costed beside Timeloop's reference stats
(`timeloop_compare.py`), nmsim designs exported to Timeloop (`timeloop_export.py`), Accelergy
energy reference tables (`accelergy.py`); docs/INTEROP.md 2.
SCALE-Sim's files stay with the packages they feed (accel/scalesim.py, workloads/scalesim.py)."""
from .accelergy import ert_energies, read_ert
from .timeloop import read_arch, read_mapping, read_problem, unsupported_features
from .timeloop_compare import compare_design
from .timeloop_convert import convert_design
from .timeloop_export import export_timeloop
from .timeloop_stats import read_stats

__all__ = ["read_problem", "read_arch", "read_mapping", "unsupported_features", "read_stats", "read_ert",
           "ert_energies", "export_timeloop", "convert_design", "compare_design"]
