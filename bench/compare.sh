#!/usr/bin/env bash
# Side-by-side training speed and memory: tapegrad against PyTorch (torch_ref.py) on the
# same models, batch and optimizer (Adam, clipping 5), alternating the two in one run.
#
#   bash bench/compare.sh [BUILD_DIR] [--quick]      (prints Markdown; docs/performance.md)
#
# BUILD_DIR: absolute, or relative to the repository root (default build).
#
# Needs: the build (BUILD_DIR, default build), /usr/bin/python3 with Debian's
# python3-torch and libopenblas0-pthread (without OpenBLAS torch falls back to the
# reference BLAS, ~15x slower: a meaningless reference), ../shared/bench/torch_ref.py
# and ../shared/data/tinyshakespeare.txt, GNU time. Run it on a quiet machine: two
# OpenMP jobs on 2 cores slow each other ~10x.
#
# Per model and thread count (1 and 2), ROUNDS rounds alternate tapegrad and PyTorch;
# each figure is the median over the rounds. tapegrad's ms/step is the median of its
# 5-step log windows after warm-up, PyTorch's the median of 20 timed steps (as
# torch_ref.py prints it). GFLOP/s counts the model's matrix products (forward and
# backward: 3x the forward multiply-adds x 2) for both, against the FMA peak of the
# cores used (threads x the single-core peak measured by `gemm_bench --peak` in the
# same run). Peak RSS: GNU time's maximum
# resident set size of the whole process.
set -u
cd "$(dirname "$0")/.."
root=$PWD
build=build
quick=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    *) build=$a ;;
    esac
done
case $build in /*) bin=$build/bin ;; *) bin=$root/$build/bin ;; esac
ref=$root/../shared/bench/torch_ref.py
text=$root/../shared/data/tinyshakespeare.txt
py=/usr/bin/python3
rounds=$((quick ? 1 : 3))
steps=$((quick ? 20 : 40))
export OPENBLAS_CORETYPE=SkylakeX
tmp=$(mktemp -d /tmp/tg_compare.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for f in "$bin/train" "$bin/gemm_bench" "$ref" "$text" /usr/bin/time; do
    [ -e "$f" ] || { echo "compare.sh: missing $f" >&2; exit 1; }
done
have_torch=1
if ! "$py" -c "import torch" 2>/dev/null; then
    have_torch=0
    echo "compare.sh: /usr/bin/python3 cannot import torch (apt-get install python3-torch): PyTorch columns skipped" >&2
elif ! ldconfig -p | grep -q "libopenblas.*pthread\|libopenblas.so.0"; then
    echo "compare.sh: warning: no OpenBLAS (apt-get install libopenblas0-pthread); PyTorch would use the reference BLAS" >&2
fi

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# tapegrad: CONFIG THREADS [--set ...] -> "ms_per_step rss_mb"
tg_run() {
    local cfg=$1 th=$2; shift 2
    local dir=$tmp/run
    rm -rf "$dir"
    OMP_NUM_THREADS=$th /usr/bin/time -f "%M" -o "$tmp/rss" "$bin/train" --config "$root/bench/configs/$cfg.yaml" \
        --set run.dir="$dir" --set data.path="$text" --set train.steps=$steps --set train.log_every=5 \
        --quiet "$@" > "$tmp/out" 2>&1 || { echo "compare.sh: train $cfg failed:" >&2; tail -3 "$tmp/out" >&2; echo "nan nan"; return; }
    local B T
    B=$(awk -F': *' '/^ *batch:/ {print $2; exit}' "$dir/config.yaml")
    T=$(awk -F': *' '/^ *seq_len:/ {print $2; exit}' "$dir/config.yaml")
    local ms
    ms=$(awk -F, -v bt=$((B * T)) 'NR > 1 && $1 > 10 && $6 > 0 {print 1000 * bt / $6}' "$dir/log.csv" | median)
    echo "$ms $(( $(cat "$tmp/rss") / 1024 ))"
}

# PyTorch: MODEL THREADS -> "ms_per_step rss_mb"
torch_run() {
    [ $have_torch = 1 ] || { echo "nan nan"; return; }
    /usr/bin/time -f "%M" -o "$tmp/rss" "$py" "$ref" "$1" "$2" > "$tmp/tout" 2>&1 ||
        { echo "compare.sh: torch_ref.py $1 failed" >&2; echo "nan nan"; return; }
    local ms
    ms=$(sed -n 's/.*ms\/step=\([0-9.]*\).*/\1/p' "$tmp/tout")
    echo "$ms $(( $(cat "$tmp/rss") / 1024 ))"
}

# forward multiply-adds per token (B=32, T=64, V=65): matrix products only
V=65
flops_token() {
    case $1 in
    lstm|lstm_user) echo $(( 256 * 1024 + 256 * 1024 + 256 * V )) ;;
    gru) echo $(( 256 * 768 + 256 * 768 + 256 * V )) ;;
    gpt) echo $(( 4 * (128 * 384 + 128 * 128 + 2 * 128 * 512 + 2 * 64 * 128) + 128 * V )) ;;
    esac
}

read -r peak isa <<<"$("$bin/gemm_bench" --peak)"
echo "# tapegrad vs PyTorch: training step, batch 32 x 64, Adam, clip 5"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, single-core FMA peak $peak GFLOP/s ($isa), $rounds round(s) alternating, median shown."
echo "PyTorch $([ $have_torch = 1 ] && "$py" -c 'import torch; print(torch.__version__)' 2>/dev/null || echo absent), tapegrad $(git -C "$root" rev-parse --short HEAD 2>/dev/null); OMP_WAIT_POLICY ${OMP_WAIT_POLICY:-unset} (both)."
echo
echo "| model | threads | tapegrad ms/step | PyTorch ms/step | tapegrad tokens/s | PyTorch tokens/s | ratio | tapegrad GFLOP/s (% of the cores' peak) | PyTorch GFLOP/s (%) | tapegrad RSS MB | PyTorch RSS MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A best_tg best_pt rss_tg rss_pt
for model in lstm gru gpt lstm_user; do
    cfg=char_$model
    tmodel=$model
    [ $model = lstm_user ] && tmodel=lstm
    for th in 1 2; do
        : > "$tmp/a"; : > "$tmp/b"; : > "$tmp/ra"; : > "$tmp/rb"
        for r in $(seq $rounds); do
            read -r ms rss <<<"$(tg_run $cfg $th)"
            echo "$ms" >> "$tmp/a"; echo "$rss" >> "$tmp/ra"
            read -r ms rss <<<"$(torch_run $tmodel $th)"
            echo "$ms" >> "$tmp/b"; echo "$rss" >> "$tmp/rb"
        done
        a=$(median < "$tmp/a"); b=$(median < "$tmp/b"); ra=$(median < "$tmp/ra"); rb=$(median < "$tmp/rb")
        ft=$(flops_token $model)
        awk -v m=$model -v th=$th -v a=$a -v b=$b -v ra=$ra -v rb=$rb -v ft=$ft -v pk=$peak 'BEGIN {
            tok = 32 * 64; fl = 6 * ft * tok
            printf "| %s | %d | %.1f | %.1f | %.0f | %.0f | %.2f | %.0f (%.0f%%) | %.0f (%.0f%%) | %d | %d |\n",
                m, th, a, b, tok / a * 1000, tok / b * 1000, b / a, fl / a / 1e6, 100 * fl / a / 1e6 / (pk * th),
                fl / b / 1e6, 100 * fl / b / 1e6 / (pk * th), ra, rb }'
        echo "$model $th $a $b $ra $rb" >> "$tmp/all"
    done
done
echo
echo "Best of 1 or 2 threads for each (the issue's rule):"
echo
echo "| model | tapegrad tokens/s | PyTorch tokens/s | ratio | RSS ratio (tapegrad / PyTorch) |"
echo "|---|---:|---:|---:|---:|"
awk '{ k = $1; if (!(k in ta) || $3 < ta[k]) { ta[k] = $3; ra[k] = $5 }
       if (!(k in tb) || $4 < tb[k]) { tb[k] = $4; rb[k] = $6 } ; order[k] = NR }
     END { n = split("lstm gru gpt lstm_user", ks, " ")
           for (i = 1; i <= n; i++) { k = ks[i]; tok = 32 * 64
             printf "| %s | %.0f | %.0f | %.2f | %.2f |\n", k, tok / ta[k] * 1000, tok / tb[k] * 1000,
                    tb[k] / ta[k], ra[k] / rb[k] } }' "$tmp/all"
awk '$1 == "lstm" || $1 == "lstm_user" { if (!($1 in t) || $3 < t[$1]) t[$1] = $3 }
     END { printf "\nUser-written LSTM (bench/cells/my_lstm.yaml) against the built-in cell: %.2fx the time per step.\n", t["lstm_user"] / t["lstm"] }' "$tmp/all"

# Growth with sequence length and batch (tapegrad, LSTM and GPT, best thread count = 2)
echo
echo "## tapegrad: time and memory per step against sequence length and batch (2 threads)"
echo
echo "| model | batch | seq_len | ms/step | µs per token | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|"
lens="64 128 256 512 1024"
batches="8 16 32 64 128"
[ $quick = 1 ] && lens="64 256 1024" && batches="8 32 128"
for T in $lens; do
    read -r ms rss <<<"$(tg_run char_lstm 2 --set train.seq_len=$T --set train.steps=20)"
    awk -v T=$T -v ms=$ms -v rss=$rss 'BEGIN { printf "| lstm | 32 | %d | %.1f | %.2f | %d |\n", T, ms, 1000 * ms / (32 * T), rss }'
done
for Bn in $batches; do
    read -r ms rss <<<"$(tg_run char_lstm 2 --set train.batch=$Bn --set train.steps=20)"
    awk -v B=$Bn -v ms=$ms -v rss=$rss 'BEGIN { printf "| lstm | %d | 64 | %.1f | %.2f | %d |\n", B, ms, 1000 * ms / (B * 64), rss }'
done
for T in 64 128 256 512; do
    read -r ms rss <<<"$(tg_run char_gpt 2 --set train.seq_len=$T --set model.input.max_len=$T --set train.steps=15)"
    awk -v T=$T -v ms=$ms -v rss=$rss 'BEGIN { printf "| gpt | 32 | %d | %.1f | %.2f | %d |\n", T, ms, 1000 * ms / (32 * T), rss }'
done

# A 10,000-step unroll: BPTT through 10,000 LSTM steps in one tape
echo
read -r ms rss <<<"$(OMP_NUM_THREADS=2 tg_run char_lstm 2 --set train.seq_len=10000 --set train.batch=4 --set train.steps=20)"
awk -v ms=$ms -v rss=$rss 'BEGIN { printf "10,000-step unroll (LSTM 256, batch 4, one tape of 10,000 steps): %.0f ms/step, peak RSS %d MB.\n", ms, rss }'
