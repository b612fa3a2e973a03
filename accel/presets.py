"""Preset architectures shipped as YAML files in accel/presets/, and loading by name or path."""
from __future__ import annotations

from pathlib import Path

from nmsim.specfile import SpecError, did_you_mean, load_model

from .spec import Arch

PRESET_DIR = Path(__file__).parent / "presets"


def preset_names() -> list[str]:
    """Names of the shipped presets (file stems), sorted."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    """Path of the preset file for `name`; SpecError with a suggestion when unknown."""
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise SpecError(f"unknown preset '{name}'{did_you_mean(name, preset_names())}; "
                        "`nmsim presets` lists them, or pass a YAML path")
    return path


def arch_file(name_or_path: str | Path) -> Path:
    """The YAML file an arch text names: a preset's file, or the path itself."""
    text = str(name_or_path)
    looks_like_path = text.endswith((".yaml", ".yml")) or "/" in text or Path(text).is_file()
    return Path(text) if looks_like_path else preset_path(text)


def load_arch(name_or_path: str | Path) -> Arch:
    """Load an Arch from a preset name (e.g. 'sat') or a YAML file path; validated."""
    return load_model(Arch, arch_file(name_or_path))
