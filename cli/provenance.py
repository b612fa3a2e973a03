"""What a command's JSON result records about its run (specfile/results.py): the resolved arch
(validated spec, hash, file), the workload's source, engine, seeds, input files."""
from __future__ import annotations

from pathlib import Path

from nmsim.specfile.results import arch_record, provenance, write_result


def arch_prov(text: str, arch) -> dict:
    """The arch record of `arch`, resolved from `text` (a preset name or a YAML path)."""
    from nmsim.accel.presets import arch_file

    return arch_record(arch.name, arch.model_dump(mode="json"), arch_file(text))


def file_inputs(**paths) -> dict:
    """{role: absolute path} of the input files that exist (None and missing ones left out)."""
    return {k: str(Path(v).resolve()) for k, v in paths.items() if v and Path(v).exists()}


def preset_prov(name: str) -> dict:
    """The arch record (`arch_prov`) of the shipped preset `name`."""
    from nmsim.accel import load_arch

    return arch_prov(name, load_arch(name))


def write_json(path: str, kind: str, doc: dict, **prov) -> None:
    """Write `doc` as a `kind` result with the provenance `prov` (specfile.results.provenance)."""
    write_result(path, kind, doc, provenance(kind, **prov))
