#!/usr/bin/env bash
# train --resume is bit-identical to a run never stopped: the same log.csv (loss,
# validation loss, lr, gradient norm, to the printed digits) and the same tensor bytes
# in the final checkpoint (parameters, optimizer state, carried state).
#  - an LSTM on text (state carried across batches, Adam, cosine schedule) stopped by
#    SIGINT at whatever step it has reached, logging every 7 steps: the losses of the
#    steps before the stop and not yet in a row come back from the checkpoint;
#  - the same LSTM with a constant learning rate, and an IRNN on the adding problem
#    (batches drawn from the loader's generator, SGD with momentum, step schedule),
#    each trained N steps, then resumed with --set train.steps=2N.
# (Extending a cosine run this way changes its schedule, which ends at train.steps, so
# the first case is stopped by a signal instead.) Usage: tool_train_resume.sh TRAIN_BINARY
source "$(dirname "$0")/tool_train_lib.sh"
ck=checkpoint.safetensors
tiny=(--set model.input.dim=8 --set model.layers.0.hidden=16 --set train.batch=2 --set train.seq_len=8)

# same_run A B FROM WHAT: B's log rows after step FROM and its final checkpoint match A's
same_run() {
    local a=$1 b=$2 from=$3 what=$4 k
    check "$what: log.csv rows after step $from identical" \
        cmp -s <(log_cols "$a" | awk -F, -v s="$from" 'NR > 1 && $1 > s') \
        <(log_cols "$b" | awk -F, -v s="$from" 'NR > 1 && $1 > s')
    check "$what: log.csv has rows after step $from" \
        [ "$(log_cols "$b" | awk -F, -v s="$from" 'NR > 1 && $1 > s' | wc -l)" -gt 0 ]
    check "$what: final checkpoint tensors identical" cmp -s <(ck_data "$a/$ck") <(ck_data "$b/$ck")
    for k in step optimizer_steps data_position log_partial; do
        check "$what: final checkpoint $k identical ($(ck_meta "$a/$ck" $k))" \
            [ "$(ck_meta "$a/$ck" $k)" = "$(ck_meta "$b/$ck" $k)" ]
    done
}

# ---- the LSTM, Adam, cosine: stopped by SIGINT, resumed ----
set_l=("${tiny[@]}" --set train.log_every=7 --set train.eval_every=50 --set train.eval_batches=2
       --set train.checkpoint_every=0 --set train.schedule.warmup=10)
steps=1500 k=""
for attempt in 1 2 3; do # a run that ends before the signal lands is tried again, longer
    b=$tmp/lstm_b
    rm -rf "$b" "$tmp/b.out" # (the old output would satisfy wait_line at once)
    "$train" --config configs/lstm.yaml "${set_l[@]}" --set train.steps=$steps --set run.dir="$b" >"$tmp/b.out" 2>&1 &
    pid=$!
    wait_line "$tmp/b.out" "^step [1-9][0-9]*/" 30
    kill -INT $pid
    wait_exit $pid 60
    if [ "$rc" = 130 ]; then
        k=$(ck_meta "$b/$ck" step)
        [ -n "$k" ] && [ "$k" -gt 0 ] && [ "$k" -lt $steps ] && break
    fi
    echo "note: attempt $attempt: exit $rc, stopped at step '$k' of $steps; again, longer"
    steps=$((steps * 4)) k=""
done
check "the LSTM run stopped by SIGINT mid-run (step $k of $steps)" [ -n "$k" ]
run --resume "$b" --quiet
check "the LSTM run resumed from step $k to $steps (exit $rc)" [ "$rc" = 0 ]
a=$tmp/lstm_a
run --config configs/lstm.yaml "${set_l[@]}" --set train.steps=$steps --set run.dir="$a" --quiet
check "the uninterrupted LSTM run exits 0" [ "$rc" = 0 ]
same_run "$a" "$b" 0 "LSTM cosine, SIGINT at step $k ($((k % 7)) losses not yet in a row)"

# ---- N steps, then --resume --set train.steps=2N ----
# extend CONFIG NAME N ARGS...: runs A (2N steps, a checkpoint every N) and B (N, then
# resumed to 2N), and compares them after step N
extend() {
    local cfg=$1 name=$2 n=$3; shift 3
    local a=$tmp/${name}_a b=$tmp/${name}_b
    run --config "$cfg" "$@" --set train.steps=$((2 * n)) --set train.checkpoint_every=$n --set run.dir="$a" --quiet
    check "$name: $((2 * n)) steps exit 0 (got $rc)" [ "$rc" = 0 ]
    run --config "$cfg" "$@" --set train.steps=$n --set train.checkpoint_every=$n --set run.dir="$b" --quiet
    check "$name: $n steps exit 0 (got $rc)" [ "$rc" = 0 ]
    check "$name: checkpoint at step $n" [ "$(ck_meta "$b/$ck" step)" = "$n" ]
    run --resume "$b" --set train.steps=$((2 * n)) --quiet
    check "$name: resumed to $((2 * n)) exits 0 (got $rc)" [ "$rc" = 0 ]
    same_run "$a" "$b" "$n" "$name"
}
extend configs/lstm.yaml lstm_constant 30 "${tiny[@]}" --set train.schedule.type=constant \
    --set train.log_every=5 --set train.eval_every=10 --set train.eval_batches=2
extend tests/configs/adding_irnn.yaml adding_irnn 20
finish
