"""tests/gpu_kernels: the Triton kernels run on CPU through Triton's interpreter.

TRITON_INTERPRET must be set before any @triton.jit decorator runs, Triton's own library
functions included, i.e. before `triton` is first imported in the process. pytest imports this
conftest while collecting the folder, before the test modules here import torch or triton; nothing
else in the suite imports triton at collection (torch and transformers import it lazily, and
gpu_kernels imports its kernel modules only on use). If triton was imported earlier anyway, the
kernel tests skip with the reason (helpers.require_interpreter) instead of failing on a missing
GPU driver. The variable then stays set for the rest of the pytest process; it only changes how
Triton runs kernels, which no other test folder does.
"""
import os

import pytest

os.environ["TRITON_INTERPRET"] = "1"


@pytest.fixture
def gen():
    """A seeded CPU torch.Generator."""
    import torch

    return torch.Generator().manual_seed(1234)
