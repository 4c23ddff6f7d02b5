#!/usr/bin/env bash
# Runs the prebuilt learner benchmark (SFT step, GRPO step, generation) on a machine with a
# Python torch 2.11 (CUDA build) and writes JSON results into $OUT (default ./bench-out).
#
#   scripts/gpu-bench.sh [path/to/learner-bench] [extra learner-bench args...]
#
# Build the binary where libtorch is available (`. scripts/torch-env.sh && cargo build
# --release -p eigenbox-learner --bin learner-bench`); its build script links libtorch_cuda with
# --no-as-needed so CUDA is usable at run time.
#
# Default run (about a minute on an H100/H200): qwen2.5-0.5b with SFT, GRPO and generation,
# then qwen2.5-1.5b and llama-3.2-1b with SFT and GRPO, each at learner-bench's default shapes (2048-token
# sequences, the largest micro-batch that fits a 70 GB budget, >= 16 sequences per step).
# BATCH=8 reproduces the earlier 8 x 2048-token measurement; the >= 45% MFU numbers in
# docs/benchmarks.md used PRESETS="llama-3.2-1b:sft,grpo" BATCH=64 and `--mem-budget-gb 125` (H200).
# Overrides: PRESETS ("name:modes name:modes ..."), BATCH, MICRO, SEQ, ITERS, WARMUP,
# PRESET_TIMEOUT (seconds per preset, default 75), DEVICE.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$here/target-torch/release/learner-bench}"
shift || true
out="${OUT:-$PWD/bench-out}"
mkdir -p "$out"
py="${PYTHON:-python3}"
torch_dir="$("$py" -c 'import torch,os;print(os.path.dirname(torch.__file__))')"
site="$(dirname "$torch_dir")"
# libtorch and the CUDA libraries its pip wheels ship (nvidia/*/lib).
ld="$torch_dir/lib"
for d in "$site"/nvidia/*/lib "$site"/nvidia/cu*/lib; do
  [ -d "$d" ] && ld="$ld:$d"
done
export LD_LIBRARY_PATH="$ld${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
status=0
for spec in ${PRESETS:-qwen2.5-0.5b:sft,grpo,gen qwen2.5-1.5b:sft,grpo llama-3.2-1b:sft,grpo}; do
  preset="${spec%%:*}"
  modes="sft,grpo,gen"
  [ "$spec" != "$preset" ] && modes="${spec#*:}"
  echo "==> $preset ($modes)"
  timeout "${PRESET_TIMEOUT:-75}" "$bin" --preset "$preset" --device "${DEVICE:-cuda}" --modes "$modes" \
    ${BATCH:+--batch "$BATCH"} ${MICRO:+--micro-batch "$MICRO"} ${SEQ:+--seq "$SEQ"} \
    ${ITERS:+--iters "$ITERS"} ${WARMUP:+--warmup "$WARMUP"} \
    --out "$out/bench-$preset${TAG:+-$TAG}.json" "$@" 2>&1 | tee "$out/bench-$preset${TAG:+-$TAG}.log" || status=1
done
exit $status
