#!/usr/bin/env bash
# The train tool when a run is cut short:
#  - SIGINT or SIGTERM: the step finishes, a checkpoint is written, exit 130 with the
#    resume command, and --resume finishes the run;
#  - kill -9 at 20 random moments, with a checkpoint after every step (kill_loop.sh):
#    the checkpoint left behind always loads (it is renamed into place whole; a *.tmp is
#    never read);
#  - a NaN or Inf: exit 3 naming the step and the op (and the equation), no checkpoint of
#    the bad step; the last one still loads and reproduces the same failure.
# Usage: tool_train_crash.sh TRAIN_BINARY
source "$(dirname "$0")/tool_train_lib.sh"
ck=checkpoint.safetensors
tiny=(--set model.input.dim=8 --set model.layers.0.hidden=16 --set train.batch=2 --set train.seq_len=8)

# ---- 4. signals ----
for sig in INT TERM; do
    r=$tmp/sig$sig
    "$train" --config configs/lstm.yaml "${tiny[@]}" --set train.steps=1000000 --set train.log_every=1 \
        --set train.eval_every=0 --set train.checkpoint_every=0 --set run.dir="$r" >"$r.out" 2>"$r.err" &
    pid=$!
    check "SIG$sig: the run logs a step" wait_line "$r.out" "^step [1-9][0-9]*/" 30
    kill -$sig $pid
    wait_exit $pid 30
    check "SIG$sig: exit 130 (got $rc)" [ "$rc" = 130 ]
    k=$(ck_meta "$r/$ck" step)
    check "SIG$sig: a checkpoint at a step > 0 (step '$k')" [ "${k:-0}" -gt 0 ]
    check "SIG$sig: the message names the step and the resume command" \
        grep -qF "interrupted at step $k: checkpoint written, resume with: train --resume $r" "$r.err"
    check "SIG$sig: stdout names the checkpoint" grep -qF "step $k: checkpoint $r/$ck" "$r.out"
    check "SIG$sig: log.csv ends at step $k" [ "$(tail -1 "$r/log.csv" | cut -d, -f1)" = "$k" ]
    expect 0 "done: $((k + 20)) steps" -- --resume "$r" --set train.steps=$((k + 20))
    check "SIG$sig: the resumed run started from step $k" grep -qE "^step $k: loss [0-9.]+ \(before any update\)" <<<"$out"
    check "SIG$sig: the resumed run's checkpoint is at step $((k + 20))" [ "$(ck_meta "$r/$ck" step)" = $((k + 20)) ]
done
# stopped before its first step: signalled once the run directory exists (the handler is
# already installed), during the loading of a model of 1.1M parameters and the first
# evaluation over half of the text in batches of one symbol (~0.5 s together); a
# checkpoint at step 0 must still be there to resume
if [ "$slow" -gt 1 ]; then # (its evaluation of ~50,000 batches would take hours under valgrind)
    echo "skipped under TG_SLOW=$slow: SIGINT at the start"
else
    r=$tmp/sig0
    "$train" --config configs/lstm.yaml --set model.input.dim=16 --set model.layers.0.hidden=512 --set train.batch=1 \
        --set train.seq_len=1 --set data.val_fraction=0.5 --set train.eval_batches=0 --set train.steps=1000000 \
        --set run.dir="$r" >"$r.out" 2>"$r.err" &
    pid=$!
    wait_line "$r/config.yaml" "" 30
    kill -INT $pid
    wait_exit $pid 30
    k=$(ck_meta "$r/$ck" step)
    check "SIGINT at the start: exit 130 (got $rc)" [ "$rc" = 130 ]
    check "SIGINT at the start: a checkpoint at step 0 (step '$k')" [ "$k" = 0 ]
    check "SIGINT at the start: the message" grep -qF "interrupted at step $k: checkpoint written, resume with" "$r.err"
    expect 0 "done: $((k + 2)) steps" -- --resume "$r" --set train.steps=$((k + 2))
fi

# ---- 5. kill -9 at random moments, a checkpoint every step (tests/kill_loop.sh) ----
out=$(bash tests/kill_loop.sh "$train" 20 2>&1); rc=$? # (TG_SLOW passes on)
grep -E "^kill loop:|^FAIL|^kill [0-9]" <<<"$out"
check "kill -9 x20: every checkpoint left loads and resumes one more step (kill_loop.sh exit $rc)" [ "$rc" = 0 ]
r=$tmp/kill
run --config configs/lstm.yaml "${tiny[@]}" --set train.steps=2 --set train.eval_every=0 --set train.checkpoint_every=1 \
    --set run.dir="$r"
# a half-written temporary file beside the checkpoint is ignored, and overwritten
head -c 100 "$r/$ck" >"$r/$ck.tmp"
cur=$(ck_meta "$r/$ck" step)
expect 0 "done: $((cur + 1)) steps" -- --resume "$r" --set train.steps=$((cur + 1))
check "kill -9: no temporary file after a clean end" test -z "$(find "$r" -name '*.tmp')"

# ---- 6. NaN / Inf ----
# the adding problem, SGD with lr 10 and no clipping: the IRNN's activations overflow
r=$tmp/nan
nan=(--set train.optimizer.lr=10 --set train.clip.norm=0 --set train.checkpoint_every=4 --set train.eval_every=0)
run --config tests/configs/adding_irnn.yaml "${nan[@]}" --set run.dir="$r"
msg=$(grep "error: step" <<<"$out")
check "NaN: exit 3 (got $rc)" [ "$rc" = 3 ]
check "NaN: the message names the step, the value and the op ($msg)" grep -qE \
    "^error: step [0-9]+: the (loss|gradient norm) is -?(nan|inf); the first non-finite value came from op '[a-z_]+'" <<<"$msg"
check "NaN: the message says the last checkpoint is kept" grep -qF "stopped, the last checkpoint is kept" <<<"$msg"
bad_step=$(sed -E 's/^error: step ([0-9]+):.*/\1/' <<<"$msg")
c=$(ck_meta "$r/$ck" step)
check "NaN: a checkpoint was written (step '$c')" [ "${c:-0}" -gt 0 ]
check "NaN: the checkpoint (step '$c') is before the failing step $bad_step" [ "${c:-0}" -lt "${bad_step:-0}" ]
run --resume "$r"
check "NaN: resumed, exit 3 again (got $rc)" [ "$rc" = 3 ]
check "NaN: resumed from step $c" grep -qE "^step $c: loss" <<<"$out"
check "NaN: resumed, the same failure at the same step" grep -qF "$msg" <<<"$out"
run --resume "$r" --set train.optimizer.lr=0.0001 --set train.steps=$((c + 1))
check "NaN: the last checkpoint loads and trains on with a smaller lr (exit $rc)" [ "$rc" = 0 ]
check "NaN: ... from step $c" grep -qE "^step $c: loss" <<<"$out"
# a cell equation that is NaN on the first batch: named before any update
run --config tests/configs/nan_at_start.yaml --set run.dir="$tmp/nan0"
check "NaN at the start: exit 3 (got $rc)" [ "$rc" = 3 ]
check "NaN at the start: the message names op and equation" grep -qE "^error: step 0: the loss is -?nan before any \
update; the first non-finite value came from op 'log' in 'h = log\(x @ W \+ 1\) \+ h' \(forward\)$" <<<"$out"
check "NaN at the start: no checkpoint" test ! -e "$tmp/nan0/$ck"
finish
