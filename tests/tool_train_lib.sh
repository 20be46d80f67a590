# tool_train_lib.sh: sourced by tests/tool_train*.sh (each called with the train binary as
# $1). Runs from the repository root in a scratch directory removed at exit; keeps the
# pass/fail tally; reads checkpoint headers with od (CI has no python).
set -u
train=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# One OpenMP thread: the same float sums in every run (resume is bit-identical only with
# the same number of threads), and no threads spinning on a loaded CI machine.
export OMP_NUM_THREADS=1
# TG_SLOW=k: the tools run k times slower than usual (under valgrind): waits are k times
# longer, and kill_loop.sh waits k times longer before each kill
slow=${TG_SLOW:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0

ok() { echo "ok: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
# check WHAT COMMAND...: passes when the command succeeds
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; }

# run ARGS...: runs train; stdout+stderr in $out, the exit status in $rc
run() { out=$("$train" "$@" 2>&1); rc=$?; }
# expect CODE TEXT -- ARGS...: train exits CODE and prints TEXT (fixed string)
expect() {
    local code=$1 pat=$2; shift 3
    run "$@"
    if [ "$rc" = "$code" ] && grep -qF -- "$pat" <<<"$out"; then
        ok "train $* -> exit $rc: $(grep -F -m1 -- "$pat" <<<"$out")"
    else
        fail "train $* -> exit $rc (want $code and '$pat'), output:"; tail -5 <<<"$out"
    fi
}

# Checkpoints: 8 bytes of header length N (little-endian), N bytes of JSON, the data.
hdr_len() { od -An -tu8 -N8 "$1" | tr -d ' '; }
# ck_meta FILE KEY: a metadata value ("step", "data_position", ...)
ck_meta() { head -c $((8 + $(hdr_len "$1"))) "$1" | grep -ao "\"$2\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
# ck_data FILE: the tensor bytes (everything after the header)
ck_data() { tail -c +$((9 + $(hdr_len "$1"))) "$1"; }
# flip_byte FILE OFFSET: xor the byte at OFFSET with 1
flip_byte() {
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# log_cols RUN: log.csv without the timing columns (tokens_per_s, elapsed_s)
log_cols() { cut -d, -f1-5 "$1/log.csv"; }

# wait_exit PID SECONDS: waits for a background train; its exit status in $rc (kills it
# and sets rc=timeout after SECONDS)
wait_exit() {
    local i
    for ((i = 0; i < $2 * 20 * slow; i++)); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$1" 2>/dev/null; then
        kill -9 "$1"; wait "$1" 2>/dev/null; rc=timeout
    else
        wait "$1"; rc=$?
    fi
}
# wait_line FILE REGEX SECONDS: polls FILE until a line matches (returns 1 on timeout)
wait_line() {
    local i
    for ((i = 0; i < $3 * 100 * slow; i++)); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.01
    done
    return 1
}
