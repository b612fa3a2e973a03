"""The GPU bench harness without a GPU: refusal, argument checks, case planning, and the row,
pool and resume logic with an injected timer (fake timings exist only in this test file; run_bench
has no timer parameter, so the CLI cannot reach one)."""
import inspect
import math

import numpy as np

import pytest

pytest.importorskip("torch", reason="the ml extra (torch, triton) is not installed")
pytest.importorskip("triton", reason="the ml extra (torch, triton) is not installed")

import torch

from nmsim.gpu_kernels import bench, bench_plan
from nmsim.gpu_kernels.bench import NO_CUDA_MESSAGE, BenchCase, NoCudaError, layer_shapes, plan_cases, run_bench
from nmsim.gpu_kernels.measurements import COLUMNS, KERNELS, read_measurements
from nmsim.specfile import SpecError

from .helpers import require_interpreter

require_interpreter()

ENV = {"device": "Test GPU", "driver": "999.1", "cuda": "13.0", "torch": "2.11", "triton": "3.6",
       "cusparselt": "700"}


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_signature_has_no_timer():
    params = inspect.signature(run_bench).parameters
    assert list(params) == ["out_path", "models", "tokens", "kernels", "dtype", "repeats", "warmup", "progress",
                            "patterns", "budget_s", "started_at"]
    assert all(p.kind == p.KEYWORD_ONLY for n, p in params.items() if n != "out_path")


def test_refuses_without_cuda_and_creates_no_file(tmp_path, monkeypatch):
    _no_cuda(monkeypatch)
    out = tmp_path / "measurements" / "GPU-test.csv"
    with pytest.raises(NoCudaError) as info:
        run_bench(out, models=["bert-base"], tokens=[1], progress=False)
    assert str(info.value) == NO_CUDA_MESSAGE
    assert str(info.value).startswith("no CUDA device: nmsim gpu bench measures real hardware and never fakes a row")
    assert isinstance(info.value, SpecError)
    assert not out.parent.exists()


@pytest.mark.parametrize("kwargs,match", [
    (dict(models=["bert"]), "unknown model 'bert'"),
    (dict(models=["resnet50"]), "no transformer linear layers"),
    (dict(tokens=[0]), "token count 0 must be an integer"),
    (dict(tokens=[2.5]), "token count 2.5"),
    (dict(kernels=["cublass"]), "unknown kernel 'cublass' \\(did you mean 'cublas'\\?\\)"),
    (dict(dtype="fp8"), "dtype 'fp8'"),
    (dict(patterns=["2:6"]), "M must be one of 4, 8, 16, 32"),
    (dict(patterns=["5:4"]), "cannot exceed"),
    (dict(repeats=1), "repeats must be an integer >= 3"),
    (dict(warmup=0), "warmup must be an integer >= 1"),
])
def test_bad_arguments(kwargs, match, tmp_path, monkeypatch):
    _no_cuda(monkeypatch)
    out = tmp_path / "o.csv"
    with pytest.raises(SpecError, match=match) as info:
        run_bench(out, progress=False, **kwargs)
    assert not isinstance(info.value, NoCudaError) and not out.exists()


def test_foreign_output_file_is_refused_untouched(tmp_path, monkeypatch):
    _no_cuda(monkeypatch)
    out = tmp_path / "o.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(SpecError, match="not a measurement file"):
        run_bench(out, progress=False)
    assert out.read_text() == "a,b\n1,2\n"


def test_layer_shapes_from_the_zoo():
    assert layer_shapes("llama3-8b") == [("attn.q+attn.out", 4096, 4096), ("attn.k+attn.v", 1024, 4096),
                                         ("ffn.gate+ffn.up", 14336, 4096), ("ffn.down", 4096, 14336)]
    assert [s[1:] for s in layer_shapes("bert-base")] == [(768, 768), (3072, 768), (768, 3072)]


def test_plan_cases():
    cases = plan_cases(["bert-base"], [1, 16, 64], KERNELS, ["2:4", "1:8"], "fp16")
    # per shape: dense 3 M x (cublas, triton_dense); 2:4: triton_nm 3 + decode 2 + 2 vendors x 3; 1:8: 3 + 2
    assert len(cases) == 3 * (6 + 11 + 5)
    assert not [c for c in cases if c.kernel == "triton_nm_decode" and c.M > 16]
    assert {c.pattern for c in cases if c.kernel in ("cusparselt", "cutlass")} == {"2:4"}
    assert {c.kernel for c in cases if c.pattern == "dense"} == {"cublas", "triton_dense"}
    assert len({c.key() for c in cases}) == len(cases)
    # one weight live at a time: each (layer, pattern) forms one contiguous run
    runs = [(c.layer, c.pattern) for c in cases]
    starts = [r for i, r in enumerate(runs) if i == 0 or runs[i - 1] != r]
    assert len(starts) == len(set(starts)) == 9


def _fake_timer(seen: list):
    def timer(calls, warmup, repeats):
        outs = [call() for call in calls]
        assert len({o.data_ptr() for o in outs}) == len(calls)  # every pool copy has its own buffers
        seen.append(len(calls))
        return [3e-6, 1e-6, 2e-6, 2.5e-6], "fake timer (test only)"
    return timer


def _cases():
    dense = [BenchCase(k, "dense", "fp16", "tiny", "fc", 3, 20, 32) for k in ("cublas", "triton_dense")]
    sparse = [BenchCase("triton_nm", "2:4", "fp16", "tiny", "fc", 3, 20, 32),
              BenchCase("triton_nm_decode", "2:4", "fp16", "tiny", "fc", 3, 20, 32),
              BenchCase("cusparselt", "2:4", "fp16", "tiny", "fc", 3, 20, 32),
              BenchCase("triton_nm_decode", "1:8", "fp16", "tiny", "fc", 1, 20, 32)]
    return dense + sparse


def _run(path, cases, seen, l2_bytes=0):
    return bench._run(path, cases, bench.RunSettings(device="cpu", timer=_fake_timer(seen),
                                                     clocks=lambda: ("1980", "2619"), env=ENV, repeats=4, warmup=1,
                                                     l2_bytes=l2_bytes, progress=False))


def test_rows_resume_and_skips(tmp_path, capsys):
    out = tmp_path / "m" / "GPU.csv"
    seen: list = []
    cases = _cases()
    assert _run(out, cases, seen) == len(cases) - 1
    err = capsys.readouterr().err
    assert "skipped cusparselt 2:4 tiny fc M=3" in err and "CUDA only" in err  # CPU: no vendor kernel, no row
    rows = read_measurements(out)
    assert [(r["kernel"], r["pattern"], r["M"]) for r in rows] == [
        ("cublas", "dense", 3), ("triton_dense", "dense", 3), ("triton_nm", "2:4", 3),
        ("triton_nm_decode", "2:4", 3), ("triton_nm_decode", "1:8", 1)]
    for r in rows:
        assert {k: r[k] for k in ENV} == ENV and (r["sm_clock_mhz"], r["mem_clock_mhz"]) == ("1980", "2619")
        assert (r["min_s"], r["median_s"], r["max_s"], r["repeats"]) == (1e-6, 2.25e-6, 3e-6, 4)
        assert (r["model"], r["layer"], r["dtype"], r["N"], r["K"]) == ("tiny", "fc", "fp16", 20, 32)
        assert 0 < r["rel_err"] < 1e-3 and r["max_abs_err"] < 1e-2  # fp16 output vs the fp32 reference
        assert "fake timer (test only)" in r["notes"] and "pool 1 x" in r["notes"]
        assert r["date"].endswith("+00:00")
    assert rows[0]["config"] == "" and rows[0]["notes"].startswith("torch.mm")
    assert rows[2]["config"].startswith("BLOCK_M=16,BLOCK_N=16,BLOCK_K=32")
    assert rows[3]["config"].startswith("BLOCK_N=8,BLOCK_J=16")
    with out.open() as fh:
        assert fh.readline().strip() == ",".join(COLUMNS)

    # resume: measured rows are skipped, the failed case is tried again (and fails again on CPU),
    # the file is unchanged; one new case adds exactly one row
    before = out.read_text()
    assert _run(out, cases, seen) == 0 and out.read_text() == before
    err = capsys.readouterr().err
    assert "5 of 6 rows already in" in err and "skipped cusparselt" in err
    assert _run(out, cases + [BenchCase("cublas", "dense", "fp16", "tiny", "fc", 5, 20, 32)], seen) == 1
    assert len(read_measurements(out)) == 6


def test_pool_exceeds_twice_l2(tmp_path):
    seen: list = []
    # cublas fp16 M=3, N=20, K=32: x 192 + w 1280 + out 120 = 1592 bytes per copy; 2 x 2000 / 1592 -> 3 copies
    case = BenchCase("cublas", "dense", "fp16", "tiny", "fc", 3, 20, 32)
    assert _run(tmp_path / "o.csv", [case], seen, l2_bytes=2000) == 1
    assert seen == [3] and "pool 3 x" in read_measurements(tmp_path / "o.csv")[0]["notes"]
    assert bench.pool_size(1592, 2000) == math.ceil(4000 / 1592)
    assert bench.pool_size(10, 10 ** 9) == bench_plan.MAX_POOL and bench.pool_size(10 ** 9, 10) == 1


def test_non_finite_output_writes_no_row(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch, "mm", lambda a, b, out: out.fill_(float("nan")))
    out = tmp_path / "o.csv"
    assert _run(out, [BenchCase("cublas", "dense", "fp16", "tiny", "fc", 3, 20, 32)], []) == 0
    assert "non-finite output" in capsys.readouterr().err
    assert not out.exists() or out.stat().st_size == 0


def test_nvidia_smi_reader(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    # rejects the UUID selection, answers for its single GPU otherwise
    fake.write_text('#!/bin/sh\nfor a in "$@"; do [ "$a" = "-i" ] && exit 6; done\n'
                    'case "$*" in *driver_version*) echo "580.65";; *) echo "1980, 2619";; esac\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    smi = bench._NvidiaSmi("abc")
    assert smi.select == ["-i", "GPU-abc"]
    assert smi.driver() == "580.65" and smi.clocks() == ("1980", "2619")
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert bench._NvidiaSmi("abc").clocks() == ("", "") and bench._NvidiaSmi("").driver() == ""


# --- budget: the prioritized plan and the deadline, with a virtual clock ----------------------

def _h200():
    from nmsim.accel import load_arch

    return load_arch("h200").gpu


def test_budget_plan_orders_by_mechanism_and_brings_baselines():
    cases = plan_cases(["bert-base", "llama3-8b"], [1, 16, 256, 4096], KERNELS, ["2:4", "1:8"], "fp16")
    plan = bench_plan.budget_plan(cases, _h200(), repeats=25, warmup=10, l2_bytes=50 * 2 ** 20)
    kernels = [p.case.kernel for p in plan]
    assert "cutlass" not in kernels                      # PyTorch's CUTLASS 2:4 runs on CC 8.x only
    assert len(plan) == sum(c.kernel != "cutlass" for c in cases) and len({p.case for p in plan}) == len(plan)
    seen = set()
    for p in plan:                                       # a 2:4 / Triton row follows its cuBLAS row
        c = p.case
        if c.kernel != "cublas":
            assert ("cublas", c.model, c.layer, c.M) in seen, c
        seen.add((c.kernel, c.model, c.layer, c.M))
    first = [p.case for p in plan[:40]]                  # a tenth of the plan: every kernel, every parameter
    assert {c.kernel for c in first} == {"cublas", "cusparselt", "triton_nm", "triton_nm_decode", "triton_dense"}
    _, sens, names = bench_plan.sensitivities(first, _h200())
    assert (sens.max(axis=0) > 0.05).all(), [n for n, s in zip(names, sens.max(axis=0)) if s <= 0.05]
    # the power limit is fitted across boards on published rows: one bench file does not plan for it
    assert "power_w_per_sm_ghz" not in names
    # cheap rows first: the first tenth costs less per row than the rest
    assert np.mean([p.estimate_s for p in plan[:40]]) < np.mean([p.estimate_s for p in plan[40:]])
    assert all(p.estimate_s > bench_plan.ROW_FIXED_S for p in plan)


class _VirtualClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _budget_run(path, cases, *, budget, cost, clock, estimates):
    def measure(case, ops, timer, warmup, repeats, l2_bytes):
        clock.t += cost(case)                  # a stand-in for measuring: only the clock moves
        return {"config": "", "repeats": repeats, "median_s": 1e-5, "min_s": 1e-5, "max_s": 1e-5,
                "max_abs_err": 0.0, "rel_err": 0.0, "notes": "synthetic budget test row (tests only)"}

    settings = bench.RunSettings(device="cpu", timer=None, clocks=lambda: ("", ""), env=ENV, repeats=3, warmup=1,
                                 l2_bytes=0, progress=False, deadline=clock.t + budget, estimates=estimates,
                                 clock=clock, measure=measure)
    return bench._run(path, cases, settings)


@pytest.mark.parametrize("bias", [0.5, 1.0, 2.0])
def test_budget_stops_before_the_deadline_and_resumes(tmp_path, bias, capsys):
    cases = [BenchCase("cublas", "dense", "fp16", "m", f"l{i}", 1 + i, 64, 64) for i in range(400)]
    est = {c.key(): 0.5 + (i % 7) * 0.3 for i, c in enumerate(cases)}      # 0.5 .. 2.3 s per row
    noise = {c.key(): math.exp(0.3 * math.sin(i)) for i, c in enumerate(cases)}
    clock, out = _VirtualClock(), tmp_path / "b.csv"

    def cost(c):
        return est[c.key()] * bias * noise[c.key()]   # the estimates are off by `bias` and by noise

    first = _budget_run(out, cases, budget=100.0, cost=cost, clock=clock, estimates=est)
    assert 0 < first < len(cases)
    assert clock.t <= 100.0 * 1.05 and clock.t >= 100.0 * 0.95      # within 5% of the budget
    assert "budget reached" in capsys.readouterr().err
    done = [r["layer"] for r in read_measurements(out)]
    start = clock.t
    second = _budget_run(out, cases, budget=100.0, cost=cost, clock=clock, estimates=est)
    assert second > 0 and len(read_measurements(out)) == first + second
    assert [r["layer"] for r in read_measurements(out)][:first] == done       # resumed, nothing redone
    assert clock.t - start <= 105.0
