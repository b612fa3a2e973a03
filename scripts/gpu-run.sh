#!/usr/bin/env bash
# One GPU window, one command: install nmsim beside the machine's own CUDA torch and Triton (kept as
# they are), run `nmsim gpu bench` in priority order within what is left of the budget, validate
# the model on the rows just measured and on the published corpus (separate reports), and write
# everything to one output folder (docs/GPU.md, "A short GPU window").
#
# usage: scripts/gpu-run.sh --out DIR [--budget-s 600] [--python PY] [--wheels DIR] [--resume FILE.csv]
#                           [--no-install] [-- extra `nmsim gpu bench` options]
#
#   --budget-s S   wall seconds for the whole script (install + bench + validation); default 600
#   --python PY    the interpreter that has the CUDA torch (default python3)
#   --wheels DIR   install missing dependencies from these wheels only (offline machines)
#   --resume FILE  an earlier window's bench CSV: copied in first, its rows are not measured again
#   --no-install   use PY as it is (nmsim already importable there)
#
# Without a CUDA device it refuses (exit 2) before creating anything. Exit 0 when the bench ran
# (possibly stopping at the budget); 1 when a step failed (the log and run.json say which).
set -u -o pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="" BUDGET=600 PY=python3 WHEELS="" RESUME="" INSTALL=1
VALIDATE_RESERVE=40   # assumed: seconds the two validations and the manifest take after the bench
MIN_BENCH=20          # below this many seconds the bench is not started

die() { echo "gpu-run: $*" >&2; exit 2; }
now() { date +%s.%N; }
T0=$(now)
elapsed() { awk -v a="$T0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:-}"; shift 2 ;;
    --budget-s) BUDGET="${2:-}"; shift 2 ;;
    --python) PY="${2:-}"; shift 2 ;;
    --wheels) WHEELS="${2:-}"; shift 2 ;;
    --resume) RESUME="${2:-}"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --) shift; break ;;
    *) die "unknown option '$1' (see the usage at the top of scripts/gpu-run.sh)" ;;
  esac
done
[ -n "$OUT" ] || die "--out DIR is required"
awk -v b="$BUDGET" 'BEGIN { exit !(b + 0 == b && b > 0) }' || die "--budget-s '$BUDGET' is not a positive number"
[ -z "$RESUME" ] || [ -f "$RESUME" ] || die "--resume '$RESUME': no such file"
[ -z "$WHEELS" ] || [ -d "$WHEELS" ] || die "--wheels '$WHEELS': no such folder"

# refuse before creating anything: no torch, or torch without a CUDA device
CHECK=$("$PY" - <<'PYEOF' 2>&1
import sys
try:
    import torch
except Exception as exc:
    print(f"no torch in this interpreter ({type(exc).__name__})"); sys.exit(4)
if not torch.cuda.is_available():
    print("no CUDA device (torch.cuda.is_available() is False)"); sys.exit(3)
import triton
print(f"{torch.cuda.get_device_name()}|{torch.__version__}|{triton.__version__}")
PYEOF
)
case $? in
  0) ;;
  *) die "${CHECK##*$'\n'}: this script measures a GPU and creates nothing without one" ;;
esac
IFS='|' read -r DEVICE TORCH_V TRITON_V <<<"${CHECK##*$'\n'}"

mkdir -p "$OUT" || die "cannot create $OUT"
OUT="$(cd "$OUT" && pwd)"
LOG="$OUT/gpu-run.log"
exec > >(tee -a "$LOG") 2>&1
echo "gpu-run: $DEVICE, torch $TORCH_V, triton $TRITON_V; budget ${BUDGET}s; output $OUT"
STATUS=0 STEPS=""
step() { STEPS="$STEPS{\"step\": \"$1\", \"rc\": $2, \"end_s\": $(elapsed)},"; [ "$2" -eq 0 ] || STATUS=1; }

# --- install, keeping the machine's torch and triton --------------------------------------------
NPY="$PY"
if [ "$INSTALL" -eq 1 ]; then
  VENV="$REPO/.gpu-venv"
  CONSTRAINTS="$OUT/constraints.txt"
  "$PY" -c "import torch, triton, numpy; print(f'torch=={torch.__version__}'); print(f'triton=={triton.__version__}'); print(f'numpy=={numpy.__version__}')" > "$CONSTRAINTS"
  PIPX=()
  [ -z "$WHEELS" ] || PIPX=(--no-index --find-links "$WHEELS")
  # a venv that sees the machine's site-packages (its torch, triton); without the venv module,
  # the machine's interpreter itself (pip --no-deps never touches torch or triton)
  if [ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"; then
    NPY="$VENV/bin/python"
  else
    echo "gpu-run: no venv module; installing into $PY's environment"
  fi
  { "$NPY" -m pip install -q --no-deps --no-build-isolation -e "$REPO" ||
      "$NPY" -m pip install -q --no-deps --no-build-isolation "$REPO"; } &&
    MISSING=$("$NPY" - <<'PYEOF'
import importlib.util
need = {"yaml": "pyyaml", "pydantic": "pydantic", "simpy": "simpy", "numba": "numba", "matplotlib": "matplotlib",
        "rich": "rich", "tqdm": "tqdm", "scipy": "scipy"}
print(" ".join(pkg for mod, pkg in need.items() if importlib.util.find_spec(mod) is None))
PYEOF
) && { [ -z "$MISSING" ] || "$NPY" -m pip install -q -c "$CONSTRAINTS" "${PIPX[@]}" $MISSING; }
  RC=$?
  AFTER=$("$NPY" -c "import torch, triton; print(f'{torch.__version__}|{triton.__version__}')" 2>&1)
  if [ "$AFTER" != "$TORCH_V|$TRITON_V" ]; then
    echo "gpu-run: torch/triton changed during the install ($TORCH_V|$TRITON_V -> $AFTER); stopping"
    RC=1
  fi
  step install "$RC"
  [ "$RC" -eq 0 ] || { echo "gpu-run: install failed; see $LOG"; }
fi

# --- bench within what is left of the budget ------------------------------------------------------
BENCH="$OUT/gpu-bench.csv"
[ -z "$RESUME" ] || [ -f "$BENCH" ] || cp "$RESUME" "$BENCH"
LEFT=$(awk -v b="$BUDGET" -v e="$(elapsed)" -v r="$VALIDATE_RESERVE" 'BEGIN { printf "%d", b - e - r }')
if [ "$STATUS" -eq 0 ] && [ "$LEFT" -ge "$MIN_BENCH" ]; then
  echo "gpu-run: bench for ${LEFT}s"
  "$NPY" -m nmsim.cli.main gpu bench --out "$BENCH" --budget-s "$LEFT" --quiet --json "$OUT/bench.json" "$@"
  step bench $?
else
  echo "gpu-run: no bench: ${LEFT}s left of the budget (needs ${MIN_BENCH}s) or an earlier step failed"
  step bench 1
fi

# --- validate: our rows and the published corpus, in separate reports -------------------------------
if [ -s "$BENCH" ]; then
  "$NPY" -m nmsim.cli.main gpu validate "$BENCH" --json "$OUT/validate-bench.json" --plot "$OUT/validate-bench.png" \
    > "$OUT/validate-bench.txt" 2>&1
  step validate-bench $?
fi
"$NPY" -m nmsim.cli.main gpu validate "$REPO/measurements/published" --json "$OUT/validate-published.json" \
  > "$OUT/validate-published.txt" 2>&1
step validate-published $?

COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)
cat > "$OUT/run.json" <<JSON
{"device": "$DEVICE", "torch": "$TORCH_V", "triton": "$TRITON_V", "commit": "$COMMIT", "budget_s": $BUDGET,
 "elapsed_s": $(elapsed), "bench_file": "$BENCH", "steps": [${STEPS%,}]}
JSON
echo "gpu-run: done in $(elapsed)s of ${BUDGET}s (status $STATUS); files in $OUT"
exit "$STATUS"
