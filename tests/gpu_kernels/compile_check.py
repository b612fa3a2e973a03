"""Compile the Triton kernels for a CUDA target without a GPU, and report each config's registers,
stack (register spills) and shared memory: compile errors and spills show up on CPU-only machines.

    python tests/gpu_kernels/compile_check.py [--arch 90] [--all | --sweep] [--loop-ops]
                                              (TRITON_INTERPRET must be unset)

Prints one JSON object per compiled (kernel, dtype, pattern, token block, config); exit code 1 if
any config fails to compile. Default: a few representative configs (what tests/gpu_kernels/test_compile.py
runs); --all: every tile of the GPU menus for 2:4, 1:8 and 3:32 fp16 plus bf16/fp32 samples;
--sweep: the prefill kernels over tile shapes, BLOCK_K, stages, N:M patterns and dtypes beyond the
menus, plus the decode menu, for the shared-memory rule of sim/gpu/tiles.py (triton_smem_bytes,
decode_smem_bytes; the rows are tests/gpu_kernels/data/triton_smem.jsonl); --loop-ops: also the
main loop's SASS instructions per thread by class (loop_alu, loop_mma, loop_memory, loop_uniform),
which give the expansion's instruction count (params.py expand_ops; `--all --loop-ops` rows are
tests/gpu_kernels/data/triton_loop_ops.jsonl).
Operands are specialized as the launcher specializes contiguous tensors with 16-divisible sizes
(unit strides become constants, pointers and row strides are marked divisible by 16).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PTR = {"fp16": "*fp16", "bf16": "*bf16", "fp32": "*fp32"}
UNIT_STRIDES = ("stride_xk", "stride_on", "stride_wk")
DIVISIBLE_16 = ("x_ptr", "val_ptr", "idx_ptr", "out_ptr", "w_ptr", "N", "K", "stride_xm", "stride_vn", "stride_in",
                "stride_om", "stride_wn")


def _cuobjdump(cubin: bytes, flag: str) -> str:
    """What the cuobjdump shipped in triton prints for `cubin` with `flag` (-res-usage, -sass)."""
    import triton

    tool = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as fh:
        fh.write(cubin)
    try:
        return subprocess.run([str(tool), flag, fh.name], capture_output=True, text=True, timeout=60).stdout
    finally:
        os.unlink(fh.name)


def _resources(cubin: bytes) -> dict:
    """REG, STACK and SHARED of the kernel in `cubin`."""
    found = dict(re.findall(r"\b(REG|STACK|SHARED):(\d+)", _cuobjdump(cubin, "-res-usage")))
    return {k.lower(): int(v) for k, v in found.items()}


# SASS opcodes (the part before the first dot) by class, for --loop-ops
_MMA = {"HMMA", "IMMA", "HGMMA", "WARPGROUP"}
_MEMORY = {"LDG", "LDGSTS", "LDS", "LDSM", "STS", "STG", "LDL", "STL", "LDGDEPBAR", "DEPBAR", "BAR", "SYNCS",
           "ARRIVES", "UTMALDG", "MEMBAR"}
_CONTROL = {"BRA", "CALL", "NOP", "EXIT", "RET", "WARPSYNC", "BSSY", "BSYNC", "YIELD"}


def _loop_ops(cubin: bytes) -> dict:
    """Instructions per thread in the kernel's main loop (the longest backward branch of its SASS), by
    class: tensor-core MMA, memory and barriers, uniform datapath (one per warp) and vector ALU (the
    rest but control flow); all 0 without a loop."""
    out = _cuobjdump(cubin, "-sass")
    ins = [(int(a, 16), op.strip()) for a, op in re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", out)]
    back = [(int(t, 16), a) for a, op in ins for t in re.findall(r"BRA\s+0x([0-9a-f]+)", op) if int(t, 16) < a]
    counts = {"loop_alu": 0, "loop_mma": 0, "loop_memory": 0, "loop_uniform": 0}
    lo, hi = max(back, key=lambda b: b[1] - b[0]) if back else (1, 0)
    for a, op in ins:
        if lo <= a <= hi:
            words = op.split()
            name = (words[1] if words[0].startswith("@") and len(words) > 1 else words[0]).split(".")[0]
            if name in _MMA:
                counts["loop_mma"] += 1
            elif name in _MEMORY:
                counts["loop_memory"] += 1
            elif name.startswith("U") or name in ("R2UR", "S2UR"):
                counts["loop_uniform"] += 1
            elif name not in _CONTROL:
                counts["loop_alu"] += 1
    return counts


def _compile(jit_fn, arch: int, ptr_args: dict, int_args: list, consts: dict, config, loop_ops: bool = False) -> dict:
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    consts = {**consts, **config.kwargs, **{k: 1 for k in UNIT_STRIDES if k in int_args}}
    sig = {**ptr_args, **{k: "i32" for k in int_args if k not in consts}, **{k: "constexpr" for k in consts}}
    attrs = {(jit_fn.arg_names.index(k),): [["tt.divisibility", 16]] for k in DIVISIBLE_16 if k in sig}
    kernel = triton.compile(ASTSource(jit_fn, sig, constexprs=consts, attrs=attrs), target=GPUTarget("cuda", arch, 32),
                            options={"num_warps": config.num_warps, "num_stages": config.num_stages})
    res = _resources(kernel.asm["cubin"])
    out = {"regs": res.get("reg"), "stack_bytes": res.get("stack"), "shared_bytes": kernel.metadata.shared}
    return out | (_loop_ops(kernel.asm["cubin"]) if loop_ops else {})


def _precision(dtype: str) -> dict:
    return {"DOT_FP32": False, "PRECISION": "ieee" if dtype == "fp32" else "tf32"}


def _nm_ptrs(dtype: str) -> dict:
    return {"x_ptr": PTR[dtype], "val_ptr": PTR[dtype], "idx_ptr": "*i32", "out_ptr": PTR[dtype]}


def _sweep_plans(nm_matmul, nm_decode):
    """(nm_matmul plan, decode plan, dense plan) of --sweep: shapes the menus do not all have."""
    import triton

    def cfg(bm, bn, bk, w, s):
        return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}, num_warps=w, num_stages=s)

    shapes = [(bm, bn, bk, w, s) for bm, bn, w in ((64, 64, 4), (16, 128, 4), (128, 128, 8)) for bk in (32, 64, 128)
              for s in (2, 3, 4)]
    patterns = ((2, 4), (1, 8), (3, 32), (1, 4), (2, 8), (4, 8), (1, 16))
    mm = [("fp16", nm, cfg(*t)) for nm in patterns for t in shapes]
    mm += [(d, nm, cfg(bm, bn, 64, w, 3)) for d in ("bf16", "fp32") for nm in ((2, 4), (1, 8))
           for bm, bn, w in ((64, 64, 4), (16, 128, 4), (128, 128, 8))]
    dense = [("fp16", cfg(*t)) for t in shapes]
    dense += [("fp32", cfg(bm, bn, 64, w, 3)) for bm, bn, w in ((64, 64, 4), (16, 128, 4), (128, 128, 8))]
    menu = nm_decode.decode_configs(gpu=True)
    dec = [("fp16", (2, 4), bt, c) for bt in (1, 16) for c in nm_decode._fit_registers(menu, {}, BLOCK_T=bt)]
    return mm, dec, dense


def _cases(full: bool, sweep: bool = False):
    """(report fields, compile arguments) for every planned compile."""
    from nmsim.gpu_kernels import dense_matmul, nm_decode, nm_matmul

    mm_ints = ["M", "N", "K", "stride_xm", "stride_xk", "stride_vn", "stride_in", "stride_om", "stride_on"]
    dense_ints = ["M", "N", "K", "stride_xm", "stride_xk", "stride_wn", "stride_wk", "stride_om", "stride_on"]
    mm_menu, dec_menu = nm_matmul.tile_configs(gpu=True), nm_decode.decode_configs(gpu=True)
    if sweep:
        mm_plan, dec_plan, dense_plan = _sweep_plans(nm_matmul, nm_decode)
    elif full:
        mm_plan = [("fp16", nm, c) for nm in ((2, 4), (1, 8), (3, 32)) for c in mm_menu]
        mm_plan += [(d, (2, 4), mm_menu[0]) for d in ("bf16", "fp32")]
        # the configs the autotuner's register pruning keeps for each token block
        dec_plan = [("fp16", nm, bt, c) for nm in ((2, 4), (1, 8)) for bt in (1, 4, 16)
                    for c in nm_decode._fit_registers(dec_menu, {}, BLOCK_T=bt)]
        dense_plan = [(d, c) for d in ("fp16", "bf16") for c in mm_menu]
    else:
        mm_plan = [("fp16", (2, 4), mm_menu[0]), ("bf16", (1, 8), mm_menu[6]), ("fp32", (3, 32), mm_menu[3])]
        dec_plan = [("fp16", (1, 8), 1, dec_menu[1]), ("bf16", (2, 4), 16, dec_menu[10])]
        dense_plan = [("fp16", mm_menu[0])]
    for dtype, (n, m), cfg in mm_plan:
        consts = {"NSEL": n, "GROUP": m, "BITS": m.bit_length() - 1, **_precision(dtype)}
        yield ({"kernel": "nm_matmul", "dtype": dtype, "pattern": f"{n}:{m}", "config": nm_matmul.config_text(cfg)},
               (nm_matmul.KERNEL.fn, _nm_ptrs(dtype), mm_ints, consts, cfg))
    for dtype, (n, m), bt, cfg in dec_plan:
        consts = {"NSEL": n, "GROUP": m, "BITS": m.bit_length() - 1, "BLOCK_T": bt}
        yield ({"kernel": "nm_decode", "dtype": dtype, "pattern": f"{n}:{m}", "block_t": bt,
                "config": nm_matmul.config_text(cfg)},
               (nm_decode.KERNEL.fn, _nm_ptrs(dtype), mm_ints, consts, cfg))
    for dtype, cfg in dense_plan:
        ptrs = {"x_ptr": PTR[dtype], "w_ptr": PTR[dtype], "out_ptr": PTR[dtype]}
        yield ({"kernel": "dense_matmul", "dtype": dtype, "pattern": "dense", "config": nm_matmul.config_text(cfg)},
               (dense_matmul.KERNEL.fn, ptrs, dense_ints, _precision(dtype), cfg))


def main(argv=None) -> int:
    """Compile the planned cases, print one JSON line each; 0 when all compiled."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", type=int, default=90, help="CUDA compute capability x10 (90 = H100, 80 = A100)")
    ap.add_argument("--all", action="store_true", help="every tile of the GPU menus")
    ap.add_argument("--sweep", action="store_true", help="tile shapes, BLOCK_K, stages, patterns, dtypes (shared memory)")
    ap.add_argument("--loop-ops", action="store_true",
                    help="also count the main loop's SASS instructions per thread by class (loop_alu, loop_mma, ...)")
    args = ap.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes"):
        print("compile_check: unset TRITON_INTERPRET (it replaces the compiler by the interpreter)", file=sys.stderr)
        return 2
    import triton

    failed = 0
    for info, (fn, ptrs, ints, consts, cfg) in _cases(args.all, args.sweep):
        try:
            info.update(_compile(fn, args.arch, ptrs, ints, consts, cfg, args.loop_ops))
        except Exception as exc:  # report every failing config, not only the first
            info["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            failed += 1
        print(json.dumps({"arch": args.arch, "triton": triton.__version__, **info}), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
