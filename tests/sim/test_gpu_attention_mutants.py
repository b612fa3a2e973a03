"""Fused attention on a GPU preset (sim/gpu/attention.py; docs/GPU.md, "Fused attention"), by hand.

Every expected value is written out from the documented formula and the a100 preset's datasheet
fields (accel/presets/a100.yaml: 108 SMs, 312 TFLOP/s dense fp16 tensor, 19.5 TFLOP/s fp32 CUDA
cores, 2.039 TB/s HBM, 40 MiB L2 at 5.405 TB/s):

    FLOPs   = 2 * batch * (S_q*S_k*d + S_q*d*S_k)           (score and context matmuls)
    bytes   = (Q + K + V + context) = (S_q*d + S_k*d + S_k*d + S_q*d) * batch * e
              in L2 when they fit l2_fraction of it, else in HBM; nothing else (scores stay on chip)
    CTAs    = batch * ceil(S_q / 64), util = min(1, CTAs / SMs)
    t       = max((t_tensor / tensor_eff_cublas + t_softmax) / util, t_mem)

Shapes are deliberately lopsided (S_q != S_k != d, odd S_q, batch > 1) so that each factor of the
formulas shows in the result."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nmsim.accel import load_arch
from nmsim.sim.gpu import ATTN_BLOCK_Q, AttentionWork, KernelWork, attention_seconds, attention_work
from nmsim.workloads import NonGemmOp, Op

A100 = load_arch("a100").gpu
# the datasheet numbers the derivations below use, pinned so that a preset edit shows up here
SMS, TENSOR_FP16, SIMT_FP32 = 108, 3.12e14, 1.95e13
HBM_BPS, L2_BPS, L2_BYTES = 2.039e12, 5.405e12, 41943040
E = 2                                                     # fp16 bytes per element
# explicit parameters, none equal to 1, so every division shows
P = {"tensor_eff_cublas": 0.5, "nongemm_mem_eff": 0.8, "nongemm_l2_eff": 0.4, "nongemm_special_cost": 4.0,
     "nongemm_compute_eff": 0.5}

SQ, SK, D, B = 129, 96, 40, 3                             # 3 (sequence, head) pairs, 129 queries, 96 keys


def ops(sq=SQ, sk=SK, d=D, b=B):
    score = Op("s", "attn_score", sq, sk, d, b)            # M = S_q, N = S_k, K = d
    context = Op("c", "attn_context", sq, d, sk, b)        # M = S_q, N = d, K = S_k
    soft = NonGemmOp("p", "softmax", rows=sq, cols=sk, batch=b)
    return score, context, soft


def test_preset_fields_the_derivations_use():
    assert (A100.sms, A100.dense_tensor_flops["fp16"], A100.cuda_core_flops["fp32"]) == (SMS, TENSOR_FP16, SIMT_FP32)
    assert (A100.hbm_bytes_per_s, A100.l2_bytes_per_s, A100.l2_bytes) == (HBM_BPS, L2_BPS, L2_BYTES)
    assert ATTN_BLOCK_Q == 64                              # docs/GPU.md: one CTA per 64 query rows


def test_work_of_a_small_l2_resident_attention():
    score, context, soft = ops()
    w = attention_work(A100, score, context, soft, "fp16", 0.5)
    # 2 matmuls of 129 x 96 x 40 MACs per pair, 3 pairs, 2 FLOPs per MAC
    flops = 2 * (129 * 96 * 40 * 3 + 129 * 40 * 96 * 3)
    assert flops == 5_944_320                   # 4 * 495,360 * 3
    assert w.tensor_s == pytest.approx(flops / TENSOR_FP16, rel=1e-12)
    # Q (129x40) + K (96x40) + V (96x40) + context (129x40) per pair, 3 pairs, fp16: 108,000 B, far below
    # half of the 40 MiB L2, so all of it is L2 traffic and none HBM (not even a parameter byte)
    act = (129 * 40 + 96 * 40 + 96 * 40 + 129 * 40) * 3 * E
    assert act == 108_000
    assert w.l2_bytes == act and w.hbm_bytes == 0.0
    # ceil(129 / 64) = 3 CTAs per pair, 9 CTAs of 108 SMs
    assert w.util == pytest.approx(9 / SMS, rel=1e-12)
    # the softmax runs inside the kernel: arithmetic only (workloads/nongemm.py table: 4 alu and
    # 1 exp per element, 1 reciprocal per row)
    elements = 129 * 96 * 3
    assert w.softmax == KernelWork(0.0, 0.0, 4.0 * elements, float(elements + 129 * 3))


def test_activations_beyond_the_l2_fraction_go_to_hbm():
    score, context, soft = ops()
    # 108,000 B of Q, K, V and context do not fit 0.1% of 40 MiB (41,943 B): HBM, none in L2
    w = attention_work(A100, score, context, soft, "fp16", 0.001)
    assert w.hbm_bytes == (129 * 40 * 2 + 96 * 40 * 2) * 3 * E and w.l2_bytes == 0.0
    bf = attention_work(A100, score, context, soft, "bf16", 0.001)
    assert bf.hbm_bytes == w.hbm_bytes                     # bf16 is 2 bytes as fp16


def test_no_softmax_is_no_softmax_work():
    score, context, _ = ops()
    w = attention_work(A100, score, context, None, "fp16", 0.5)
    assert w.softmax == KernelWork(0.0, 0.0, 0.0, 0.0)
    assert all(isinstance(x, float) for x in w.softmax)


@pytest.mark.parametrize("sq,b,ctas", [
    (64, 1, 1), (65, 1, 2), (129, 2, 6), (128, 12, 24),    # docs: 12 heads x 128 tokens keep 24 SMs busy
    (4096, 1, 64), (4160, 1, 65)])
def test_one_cta_per_64_query_rows_of_a_head(sq, b, ctas):
    score, context, soft = ops(sq=sq, b=b)
    w = attention_work(A100, score, context, soft, "fp16", 0.5)
    assert ctas == b * math.ceil(sq / 64)
    assert w.util == pytest.approx(ctas / SMS, rel=1e-12)


def test_util_is_capped_at_every_sm():
    # 60 pairs x ceil(129/64) = 180 CTAs on 108 SMs: all busy, no more than all
    score, context, soft = ops(b=60)
    assert attention_work(A100, score, context, soft, "fp16", 0.5).util == 1.0
    # exactly one CTA per SM is util 1 as well
    score, context, soft = ops(sq=64, b=108)
    assert attention_work(A100, score, context, soft, "fp16", 0.5).util == 1.0


def test_seconds_of_a_compute_bound_kernel_by_hand():
    score, context, soft = ops()
    w = attention_work(A100, score, context, soft, "fp16", 0.5)
    t = attention_seconds(A100, w, P)
    elements = 129 * 96 * 3
    # softmax on CUDA cores: (alu + 4 * special) ops at one op per core and clock (fp32 FLOP/s / 2)
    soft_s = (4 * elements + 4.0 * (elements + 129 * 3)) / (SIMT_FP32 / 2 * 0.5)
    tensor_s = 2 * 2 * 129 * 96 * 40 * 3 / TENSOR_FP16
    util = 9 / SMS
    assert t["compute_s"] == pytest.approx((tensor_s / 0.5 + soft_s) / util, rel=1e-12)
    # the 108,000 L2 bytes at 40% of 5.405 TB/s
    assert t["memory_s"] == pytest.approx(108_000 / (L2_BPS * 0.4), rel=1e-12)
    assert t["compute_s"] > t["memory_s"] and t["total_s"] == t["compute_s"]


def test_seconds_of_a_memory_bound_kernel_by_hand():
    # 108 pairs (every SM busy) of 64 queries, 64 keys, d = 16, no softmax: 4 * 64 * 64 * 16 * 108 =
    # 28.3 MFLOP (0.18 us at half of 312 TFLOP/s) against 64 * 16 * 4 * 2 * 108 = 0.88 MB from HBM
    # (l2_fraction 0: nothing stays in L2), 0.54 us at 80% of 2.039 TB/s
    score, context, _ = ops(sq=64, sk=64, d=16, b=108)
    w = attention_work(A100, score, context, None, "fp16", 0.0)
    assert w.hbm_bytes == 64 * 16 * 4 * E * 108 and w.l2_bytes == 0.0 and w.util == 1.0
    t = attention_seconds(A100, w, P)
    assert t["compute_s"] == pytest.approx(4 * 64 * 64 * 16 * 108 / TENSOR_FP16 / 0.5, rel=1e-12)
    assert t["memory_s"] == pytest.approx(64 * 16 * 4 * E * 108 / (HBM_BPS * 0.8), rel=1e-12)
    assert t["memory_s"] > t["compute_s"] and t["total_s"] == t["memory_s"]


def test_seconds_scale_with_the_efficiencies():
    score, context, soft = ops()
    w = attention_work(A100, score, context, soft, "fp16", 0.001)     # HBM-placed
    base = attention_seconds(A100, w, P)
    # doubling the tensor efficiency halves the matmul part only; the softmax part stays
    faster = attention_seconds(A100, w, P | {"tensor_eff_cublas": 1.0})
    part = w.tensor_s / 0.5 / w.util
    assert base["compute_s"] - faster["compute_s"] == pytest.approx(part / 2, rel=1e-12)
    # memory time is the HBM bytes over the non-GEMM memory efficiency, whatever the arithmetic
    assert base["memory_s"] == pytest.approx(w.hbm_bytes / (HBM_BPS * 0.8), rel=1e-12)
    slower = attention_seconds(A100, w, P | {"nongemm_mem_eff": 0.4})
    assert slower["memory_s"] == pytest.approx(2 * base["memory_s"], rel=1e-12)


def test_seconds_work_on_arrays_of_work():
    # e2e_work.py times every attention kernel of a model at once: numpy arrays per field
    works = [attention_work(A100, *ops(sq=sq, b=b), "fp16", frac)
             for sq, b, frac in ((129, 3, 0.5), (64, 1, 0.0), (512, 48, 0.5))]
    stacked = AttentionWork(np.array([w.tensor_s for w in works]),
                            KernelWork(*(np.array([w.softmax[i] for w in works]) for i in range(4))),
                            np.array([w.util for w in works]), np.array([w.hbm_bytes for w in works]),
                            np.array([w.l2_bytes for w in works]))
    t = attention_seconds(A100, stacked, P)
    for i, w in enumerate(works):
        one = attention_seconds(A100, w, P)
        for k in ("compute_s", "memory_s", "total_s"):
            assert t[k][i] == pytest.approx(one[k], rel=1e-12), k
