#!/usr/bin/env bash
# Where a training step's time goes: perf profile of one thread's work (a batch of 16
# on 1 thread = what each of 2 threads does with batch 32), grouped into the matrix
# products (oneDNN's JIT kernels), tapegrad's own kernels by family, and the rest.
#
#   bash bench/profile.sh [BUILD_DIR] CONFIG [--set ...]
#   e.g. bash bench/profile.sh build bench/configs/char_lstm.yaml
#
# Needs perf (linux-perf) and ../shared/data/tinyshakespeare.txt. Shares are of the
# summed entries (perf's rounded per-symbol figures add up to a little over 100%).
set -u
cd "$(dirname "$0")/.."
build=build
[ $# -gt 0 ] && [ -d "$1" ] && { build=$1; shift; }
cfg=$1; shift
tmp=$(mktemp -d /tmp/tg_profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
OMP_NUM_THREADS=1 perf record -q -o "$tmp/perf.data" "$build/bin/train" --config "$cfg" \
    --set data.path="$PWD/../shared/data/tinyshakespeare.txt" --set run.dir="$tmp/run" \
    --set train.batch=16 --set train.steps=60 --quiet "$@" > /dev/null 2>&1 || { echo "train failed" >&2; exit 1; }
perf report -i "$tmp/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    awk '/^ +[0-9.]+%/ {
        p = $1; sub("%", "", p); dso = $2; sym = $4
        if (dso ~ /JIT|libdnnl/) g = "matrix products (oneDNN)"
        else if (sym ~ /^(run_block|backward_block|fused_)/) g = "fused elementwise chains"
        else if (sym ~ /gelu|tanh|sigmoid|exp_|relu|unary|fwd_range|bwd_range|_fwd|_bwd/) g = "elementwise ops"
        else if (sym ~ /add_|sub_|mul_|div_|binary/) g = "elementwise ops"
        else if (sym ~ /softmax|forward_row|backward_row|layernorm|backward_dx_row|backward_params/) g = "softmax, layernorm, cross-entropy rows"
        else if (sym ~ /optim/) g = "optimizer and gradient norm"
        else if (sym ~ /memmove|memcpy|slice|concat|gather|permute|reshape|memset/) g = "copies, slices, permutes, zeroing"
        else if (dso ~ /kernel/) g = "kernel (page faults, interrupts)"
        else if (sym ~ /matmul/) g = "matrix products (oneDNN)"
        else g = "other"
        t[g] += p; all += p }
        END { for (g in t) printf "%6.1f%%  %s\n", 100 * t[g] / all, g }' | sort -rn
