"""Non-GEMM operators (workloads/nongemm.py): counts derived by hand, workload files, the zoo's ops."""
from __future__ import annotations

import pytest
import yaml

from nmsim.specfile import SpecError
from nmsim.workloads import NONGEMM_KINDS, NonGemmOp, Op, Workload, zoo


def ng(kind, rows=2, cols=8, batch=1, **kw):
    return NonGemmOp(f"x.{kind}", kind, rows=rows, cols=cols, batch=batch, **kw)


# --- counts (the table of workloads/nongemm.py, worked by hand) ---------------------------------

@pytest.mark.parametrize("op, alu, special, read, written", [
    # 16 elements in 2 rows of 8: 7 alu / element + 3 per row, 1 rsqrt per row; reads x + scale and shift
    (ng("layernorm"), 7 * 16 + 3 * 2, 2, 16 + 2 * 8, 16),
    (ng("rmsnorm"), 4 * 16 + 2 * 2, 2, 16 + 8, 16),
    # max, x - max, sum, * 1/sum per element; exp per element; 1/sum per row
    (ng("softmax", batch=3), 4 * 48, 48 + 6, 48, 48),
    (ng("gelu"), 4 * 16, 16, 16, 16),
    (ng("silu"), 2 * 16, 2 * 16, 16, 16),
    (ng("relu"), 16, 0, 16, 16),
    (ng("relu6"), 32, 0, 16, 16),
    (ng("add"), 16, 0, 32, 16),
    (ng("mul"), 16, 0, 32, 16),
    (ng("embedding"), 0, 0, 16, 16),
    # 3 planes of 2 x 2 outputs from 4 x 4 inputs: 3x3 max = 8 compares per output; 2x2 mean = 4 ops
    (ng("maxpool", rows=2, cols=2, batch=3, window=9, in_elements=16), 8 * 12, 0, 48, 12),
    (ng("avgpool", rows=2, cols=2, batch=3, window=4, in_elements=16), 4 * 12, 0, 48, 12),
])
def test_counts_by_hand(op, alu, special, read, written):
    assert (op.alu_ops, op.special_ops, op.elements_read, op.elements_written) == (alu, special, read, written)
    assert op.flops == alu + special and op.ops_by_class() == {"alu": alu, "special": special}
    assert op.macs == 0 and not op.has_weights


def test_parameters_read_are_the_norm_vectors_or_the_gathered_rows():
    assert ng("layernorm").param_elements == 16 and ng("rmsnorm").param_elements == 8
    assert ng("embedding", batch=2).param_elements == 32 and ng("add").param_elements == 0


def test_every_kind_has_counts():
    for kind in NONGEMM_KINDS:
        kw = {"window": 4, "in_elements": 64} if kind.endswith("pool") else {}
        op = ng(kind, **kw)
        assert op.elements_written == op.elements and op.elements_read >= op.elements


@pytest.mark.parametrize("kw, match", [
    ({"kind": "dropout"}, "not one of"),
    ({"kind": "add", "rows": 0}, "rows must be a positive integer"),
    ({"kind": "add", "window": 3}, "apply to pooling"),
    ({"kind": "layernorm", "fused": True}, "only activations"),
])
def test_bad_ops_are_spec_errors(kw, match):
    args = {"name": "bad", "kind": "add", "rows": 2, "cols": 2, **kw}
    with pytest.raises(SpecError, match=match):
        NonGemmOp(**args)


# --- workloads ------------------------------------------------------------------------------------

def _mixed() -> Workload:
    return Workload("mixed", [ng("embedding"), Op("fc", "gemm", M=2, N=8, K=8), ng("gelu", fused=True),
                              Op("fc2", "gemm", M=2, N=8, K=8), ng("add")])


def test_workload_keeps_model_order_and_gives_gemm_consumers_the_gemms():
    wl = _mixed()
    assert [o.name for o in wl.layers] == ["x.embedding", "fc", "x.gelu", "fc2", "x.add"]
    assert [o.name for o in wl.ops] == ["fc", "fc2"] and [o.name for o in wl.nongemm] == ["x.embedding", "x.gelu", "x.add"]
    assert wl.macs == 2 * 2 * 8 * 8
    assert [op.name for op, _ in wl.distinct_ops()] == ["fc"]                  # fc2 is fc's shape
    assert [n for _, n in wl.distinct_ops()] == [2]
    assert len(wl.distinct_layers()) == 4 and wl.with_sparsity("2:4").layers[2] == wl.layers[2]


def test_a_fused_op_must_follow_a_gemm():
    with pytest.raises(SpecError, match="fused but does not follow a GEMM"):
        Workload("w", [ng("embedding"), ng("gelu", fused=True)])
    Workload("w", [Op("c", "conv2d", M=4, N=4, K=4), ng("relu", fused=True), ng("relu6", fused=True)])


def test_yaml_round_trip_with_non_gemm_ops(tmp_path):
    for wl in (_mixed(), zoo.build("resnet18", image_size=64), zoo.build("llama2-7b", seq_len=16)):
        back = Workload.load(wl.save(tmp_path / "w.yaml"))
        assert back.layers == wl.layers
    text = (tmp_path / "w.yaml").read_text()
    assert "kind: rmsnorm" in text and "fused: true" in text


@pytest.mark.parametrize("entry, match", [
    ({"name": "n", "kind": "layernorm", "rows": 2, "colz": 8}, "unknown field 'colz'"),
    ({"name": "n", "kind": "layernorm", "rows": 2}, "needs rows, cols"),
    ({"name": "n", "kind": "softmax", "rows": 2, "cols": 2, "K": 4}, "K: fields of GEMM ops"),
    ({"name": "n", "kind": "gemm", "M": 2, "N": 2, "K": 2, "rows": 4}, "rows: fields of non-GEMM ops"),
    ({"name": "n", "kind": "softmax", "rows": 2, "cols": 2, "fused": True}, "only activations"),
    ({"name": "n", "kind": "sofmax", "rows": 2, "cols": 2}, "kind"),
])
def test_workload_file_errors_name_the_line_and_field(tmp_path, entry, match):
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump({"name": "w", "ops": [{"name": "fc", "kind": "gemm", "M": 2, "N": 2, "K": 2},
                                                        entry]}, sort_keys=False))
    with pytest.raises(SpecError, match=match) as exc:
        Workload.load(path)
    assert f"{path}:" in str(exc.value) and "\n" not in str(exc.value)


# --- the zoo ----------------------------------------------------------------------------------------

def kinds(wl) -> dict[str, int]:
    out: dict[str, int] = {}
    for o in wl.nongemm:
        key = o.kind + (" fused" if o.fused else "")
        out[key] = out.get(key, 0) + 1
    return out


def test_bert_base_non_gemm_ops():
    wl = zoo.build("bert-base", batch=1, seq_len=128)
    # word, token-type, position gathers; 2 embedding adds; embedding norm; per block 2 norms, 2 residual
    # adds, one softmax over 12 heads, GELU fused into ffn.up (post-norm BERT: no final norm)
    assert kinds(wl) == {"embedding": 3, "add": 2 + 24, "layernorm": 1 + 24, "softmax": 12, "gelu fused": 12}
    sm = next(o for o in wl.nongemm if o.kind == "softmax")
    assert (sm.batch, sm.rows, sm.cols) == (12, 128, 128)
    names = [o.name for o in wl.layers[:12]]
    assert names[6:12] == ["layer0.attn.q", "layer0.attn.k", "layer0.attn.v", "layer0.attn.score", "layer0.attn.softmax",
                           "layer0.attn.context"]


def test_llama_and_opt_and_cnn_non_gemm_ops():
    assert kinds(zoo.build("llama2-7b", seq_len=16)) == {"embedding": 1, "rmsnorm": 65, "softmax": 32, "add": 64,
                                                          "silu fused": 32, "mul": 32}
    assert kinds(zoo.build("opt-13b", seq_len=16))["relu fused"] == 40
    r50 = kinds(zoo.build("resnet50"))
    # stem ReLU + 2 per bottleneck fused; the block's last ReLU follows the residual add
    assert r50 == {"relu fused": 1 + 2 * 16, "maxpool": 1, "add": 16, "relu": 16, "avgpool": 1}
    mb = kinds(zoo.build("mobilenetv2"))
    assert mb["relu6 fused"] == 35 and mb["add"] == 10 and mb["avgpool"] == 1
    vgg = kinds(zoo.build("vgg16"))
    assert vgg == {"relu fused": 15, "maxpool": 5, "avgpool": 1}


def test_every_zoo_model_has_non_gemm_ops_in_model_order():
    for name in zoo.ZOO_NAMES:
        wl = zoo.build(name)
        assert wl.nongemm, name
        for i, op in enumerate(wl.layers):     # a fused activation sits right after its GEMM
            if isinstance(op, NonGemmOp) and op.fused:
                assert isinstance(wl.layers[i - 1], Op) or wl.layers[i - 1].fused, (name, op.name)
