#!/usr/bin/env bash
# Two-thread training on cores of uneven speed: ms per step of the benchmark models on 2
# threads, with and without a 25% duty-cycle load pinned to core 1 (bench/load: busy 5
# ms of every 20; the training threads themselves are not pinned), for one build or two
# alternating (the second's time over the first's). See docs/performance.md, "Fourth
# round".
#
#   bash bench/uneven.sh [TRAIN_A [TRAIN_B]] [--env-b VAR=VALUE] [--rounds N] [--models "gpt lstm gru"]
#
# TRAIN_A/B: train binaries (default build/bin/train; relative paths are from the
# directory you run it in). --env-b: an environment setting for B's runs only (B is A
# when not given), e.g. --env-b OMP_WAIT_POLICY=active. Each figure: the median of the
# 5-step log windows after warm-up of a 40-step run; the table shows the median over
# the rounds. Needs ../shared/data/tinyshakespeare.txt, taskset, 2 cores.
set -u
cd "$(dirname "$0")/.."
root=$PWD
a="" b="" envb="" rounds=4 models="gpt lstm gru"
abs() { case $1 in /*) echo "$1" ;; *) echo "$OLDPWD/$1" ;; esac; }
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift ;;
    --models) models=$2; shift ;;
    --env-b) envb=$2; shift ;;
    *) if [ -z "$a" ]; then a=$(abs "$1"); else b=$(abs "$1"); fi ;;
    esac
    shift
done
a=${a:-$root/build/bin/train}
[ -n "$envb" ] && b=${b:-$a}
load=$root/build/bin/load
text=$root/../shared/data/tinyshakespeare.txt
for f in "$a" ${b:+"$b"} "$load" "$text"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "uneven.sh: missing $f" >&2; exit 1; }
done
tmp=$(mktemp -d /tmp/tg_uneven.XXXXXX)
lp=""
trap '[ -n "$lp" ] && kill $lp 2>/dev/null; rm -rf "$tmp"' EXIT

median() { sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# BIN MODEL [VAR=VALUE] -> ms per step on 2 threads
step_ms() {
    local dir=$tmp/run
    rm -rf "$dir"
    env ${3:+"$3"} OMP_NUM_THREADS=2 "$1" --config "$root/bench/configs/char_$2.yaml" --set run.dir="$dir" \
        --set data.path="$text" --set train.steps=40 --set train.log_every=5 --quiet > "$tmp/out" 2>&1 ||
        { echo "uneven.sh: train failed:" >&2; tail -3 "$tmp/out" >&2; echo nan; return; }
    awk -F, 'NR > 1 && $1 > 10 && $6 > 0 {print 1000 * 32 * 64 / $6}' "$dir/log.csv" | median
}

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), 2 threads, $rounds round(s), median shown; A = $a${b:+, B = $b}${envb:+ with $envb}"
echo
if [ -n "$b" ]; then
    echo "| model | load on core 1 | A ms/step | B ms/step | B / A (median of the rounds' ratios) |"
    echo "|---|---|---:|---:|---:|"
else
    echo "| model | load on core 1 | ms/step |"
    echo "|---|---|---:|"
fi
for m in $models; do
    for loaded in no yes; do
        if [ $loaded = yes ]; then taskset -c 1 "$load" 5 15 & lp=$!; sleep 0.2; fi
        : > "$tmp/ra"; : > "$tmp/rb"; : > "$tmp/rr"
        for i in $(seq "$rounds"); do
            x=$(step_ms "$a" "$m"); echo "$x" >> "$tmp/ra"
            if [ -n "$b" ]; then
                y=$(step_ms "$b" "$m" "$envb"); echo "$y" >> "$tmp/rb"
                awk -v x="$x" -v y="$y" 'BEGIN {print y / x}' >> "$tmp/rr"
            fi
        done
        if [ $loaded = yes ]; then kill $lp 2>/dev/null; wait $lp 2>/dev/null; lp=""; fi
        what=$([ $loaded = yes ] && echo "25%" || echo "none")
        if [ -n "$b" ]; then
            printf "| %s | %s | %.1f | %.1f | %.3f |\n" "$m" "$what" "$(median < "$tmp/ra")" "$(median < "$tmp/rb")" \
                "$(median < "$tmp/rr")"
        else
            printf "| %s | %s | %.1f |\n" "$m" "$what" "$(median < "$tmp/ra")"
        fi
    done
done
