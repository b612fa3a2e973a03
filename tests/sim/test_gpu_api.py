"""The public API of sim/gpu: listed once in its __init__, documented, with units where a function
or record carries quantities, and small functions (at most 80 lines, 8 positional parameters)."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import re

import pytest

import nmsim.sim.gpu as gpu

# a unit (or the word for a dimensionless count or fraction) named in a docstring
UNITS = re.compile(r"\((s|B|pJ|FLOP/s)\)|\bseconds\b|\bbytes\b|\bcounts?\b|\bfractions?\b|FLOP/s|\bpJ\b"
                   r"|\belements\b|\bbits\b")
# a return annotation that mentions these carries quantities
QUANTITY_RETURNS = re.compile(r"\b(float|int|ndarray|dict|GemmTime|Geometry|LayerResult)\b")
MODULES = [importlib.import_module(f"nmsim.sim.gpu.{m.name}") for m in pkgutil.iter_modules(gpu.__path__)]


def own_public(module):
    """(name, object) of the functions and classes `module` defines, not those it imports."""
    return [(n, o) for n, o in vars(module).items()
            if not n.startswith("_") and (inspect.isfunction(o) or inspect.isclass(o)) and o.__module__ == module.__name__]


def public_functions():
    for module in MODULES:
        for name, obj in own_public(module):
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            else:
                for meth, f in vars(obj).items():
                    f = f.fget if isinstance(f, property) else f
                    if not meth.startswith("_") and inspect.isfunction(f):
                        yield f"{module.__name__}.{name}.{meth}", f


def test_all_lists_every_public_name_of_the_modules():
    assert len(set(gpu.__all__)) == len(gpu.__all__)
    assert all(hasattr(gpu, n) for n in gpu.__all__)
    defined = {n for m in MODULES for n, _ in own_public(m)}
    assert defined <= set(gpu.__all__), sorted(defined - set(gpu.__all__))


@pytest.mark.parametrize("qualname,func", list(public_functions()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_functions_have_docstrings_and_units(qualname, func):
    doc = inspect.getdoc(func)
    assert doc, f"{qualname} has no docstring"
    ret = inspect.signature(func).return_annotation
    assert ret is not inspect.Signature.empty, f"{qualname} has no return annotation"
    if QUANTITY_RETURNS.search(str(ret)):
        assert UNITS.search(doc), f"{qualname} returns {ret} but its docstring names no unit"


@pytest.mark.parametrize("cls", [o for m in MODULES for _, o in own_public(m) if dataclasses.is_dataclass(o)],
                         ids=lambda c: c.__name__)
def test_records_name_the_units_of_their_numbers(cls):
    doc = inspect.getdoc(cls)
    assert doc and not doc.startswith(f"{cls.__name__}("), f"{cls.__name__} has no docstring"
    if any(re.search(r"\b(int|float|ndarray)\b", str(f.type)) for f in dataclasses.fields(cls)):
        assert UNITS.search(doc), f"{cls.__name__} holds numbers but names no unit"


def test_functions_are_short_and_take_few_positional_parameters():
    for module in MODULES:
        for name, f in vars(module).items():
            if inspect.isfunction(f) and f.__module__ == module.__name__:
                lines = len(inspect.getsourcelines(f)[0])
                positional = [p for p in inspect.signature(f).parameters.values()
                              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                assert lines <= 80, f"{module.__name__}.{name}: {lines} lines"
                assert len(positional) <= 8, f"{module.__name__}.{name}: {len(positional)} positional parameters"
