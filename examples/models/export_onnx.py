"""Write resnet18.onnx: the ONNX export of resnet18.py (torch's TorchScript exporter, opset 17,
symbolic batch), graph only: the weights go to an external-data file that is then deleted, so
the shipped file is ~12 KB. nmsim reads shapes, never weights (`onnx.load(...,
load_external_data=False)`), so the costing is the same as with the full 47 MB export.

    python examples/models/export_onnx.py [OUT.onnx]
"""
import os
import sys
import warnings
from pathlib import Path

import onnx
import torch

sys.path.insert(0, str(Path(__file__).parent))
from resnet18 import resnet18  # noqa: E402


def export(out: Path) -> Path:
    """Export resnet18 (seeded random weights) to `out`, weights external and removed."""
    torch.manual_seed(0)
    full = out.with_suffix(".full.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(resnet18().eval(), (torch.zeros(1, 3, 224, 224),), str(full), dynamo=False,
                          opset_version=17, input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    model = onnx.load(str(full))
    data = out.name + ".weights"
    onnx.save(model, str(out), save_as_external_data=True, location=data, size_threshold=0)
    os.remove(full)
    os.remove(out.parent / data)
    return out


if __name__ == "__main__":
    print(export(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "resnet18.onnx"))
