"""accel: architecture specs (validated YAML schema) and presets.

Depends on nothing else of nmsim except `specfile` (YAML loading with located errors) and
`problem` (N:M text, index bits, the dataflow names).
"""
from nmsim.problem import DATAFLOWS

from .presets import PRESET_DIR, load_arch, preset_names, preset_path
from .spec import OPERANDS, Arch, GpuArch, SystolicArch, require_systolic

__all__ = ["Arch", "SystolicArch", "GpuArch", "require_systolic", "load_arch", "preset_names", "preset_path",
           "PRESET_DIR", "DATAFLOWS", "OPERANDS"]
