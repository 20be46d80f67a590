#!/usr/bin/env bash
# run.sh BUILD_DIR SECONDS [HARNESS...]: runs each libFuzzer harness of BUILD_DIR (a
# build with -DCMAKE_C_COMPILER=clang -DTG_FUZZ=ON) for SECONDS, one after the other,
# with leak detection, on a copy of its seed corpus and regression inputs (the
# repository is never written). Prints one summary line per harness (executions,
# coverage, corpus size) and exits 1 when one finds a crash, a leak, undefined
# behaviour or a broken property, printing the input (saved, and as base64).
# Harnesses: model cell safetensors data (default: all).
# TG_FUZZ_CORPUS=DIR keeps the corpora in DIR/<harness> to continue them later.
set -u
build=$(cd "$1" && pwd) secs=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
harnesses=("$@")
[ ${#harnesses[@]} = 0 ] && harnesses=(model cell safetensors data)
tmp=$(mktemp -d)
[ -z "${TG_FUZZ_KEEP:-}" ] && trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1

seeds() {
    case $1 in
    model) echo "$src/configs $src/configs/experiments $src/tests/configs $src/tests/bad $src/bench/configs" ;;
    cell) echo "$src/configs/cells $src/configs/blocks $src/tests/cells $src/tests/bad" ;;
    safetensors) echo "$src/tests/fuzz/seeds/safetensors" ;;
    data) echo "$src/tests/fuzz/seeds/data" ;;
    esac
}
dict() {
    case $1 in model | cell) echo "-dict=$src/tests/fuzz/yaml.dict" ;; safetensors) echo "-dict=$src/tests/fuzz/json.dict" ;; esac
}

status=0
for h in "${harnesses[@]}"; do
    bin=$build/bin/fuzz_$h
    [ -x "$bin" ] || { echo "run.sh: no $bin (configure with -DCMAKE_C_COMPILER=clang -DTG_FUZZ=ON)"; exit 2; }
    corpus=${TG_FUZZ_CORPUS:+$TG_FUZZ_CORPUS/$h}
    corpus=${corpus:-$tmp/corpus-$h}
    mkdir -p "$corpus" "$tmp/art-$h"
    for d in $(seeds "$h") "$src/tests/fuzz/regress/$h"; do
        find "$d" -maxdepth 1 -type f ! -name '.*' -exec cp {} "$corpus/" \; 2>/dev/null
    done
    log=$tmp/$h.log
    "$bin" "$corpus" $(dict "$h") -max_total_time="$secs" -max_len=8192 -timeout=30 -rss_limit_mb=2560 \
        -print_final_stats=1 -artifact_prefix="$tmp/art-$h/" >"$log" 2>&1
    rc=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*') ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    corp=$(grep -o 'corp: [0-9]*' <<<"$last" | grep -o '[0-9]*')
    echo "fuzz_$h: ${secs}s, ${execs:-?} executions, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}, exit $rc"
    if [ "$rc" != 0 ]; then
        status=1
        grep -E "ERROR|SUMMARY|runtime error|fuzz: " "$log" | head -20
        for a in "$tmp/art-$h"/*; do
            [ -f "$a" ] || continue
            echo "input $a (add it to tests/fuzz/regress/$h/ once fixed), base64:"
            base64 "$a" | head -200
        done
        tail -60 "$log"
        [ -n "${TG_FUZZ_KEEP:-}" ] && echo "logs and inputs kept in $tmp"
    fi
done
exit $status
