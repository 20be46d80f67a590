#!/usr/bin/env bash
# Data parallel across threads: with 2 and 3 OpenMP threads the trainer splits each
# batch over threads (model replicas sharing parameters) and combines the losses and
# gradients; every logged loss must match the 1-thread run's to 1e-5 relative (float
# sums in another order), and so must the validation losses, for a mean over tokens
# with carried state (text LSTM, evaluated every 6 steps), a mean
# over sequences (adding task, loss on the last step), a sum (half_sse) and a mean
# (mse) over inline sequences. Usage: tool_train_shards.sh TRAIN_BINARY
source "$(dirname "$0")/tool_train_lib.sh"
# losses THREADS NAME ARGS...: trains, then prints the training and validation losses of
# log.csv, one per line
losses() {
    local th=$1 name=$2; shift 2
    OMP_NUM_THREADS=$th "$train" "$@" --set run.dir="$tmp/$name.$th" --set train.log_every=1 --quiet > "$tmp/out" 2>&1 ||
        { echo "train failed:"; cat "$tmp/out"; return 1; }
    tail -n +2 "$tmp/$name.$th/log.csv" | awk -F, '{print $2; if ($3 != "") print "val " $3}' | sed 's/^val //'
}
same() { # NAME ARGS...
    local name=$1; shift
    local one two three
    one=$(losses 1 "$name" "$@") && two=$(losses 2 "$name" "$@") && three=$(losses 3 "$name" "$@")
    check "$name: $(wc -l <<<"$one") losses logged" [ -n "$one" ]
    for n in two three; do
        check "$name: $n threads give the 1-thread losses" awk -v a="$one" -v b="${!n}" 'BEGIN {
            na = split(a, x, "\n"); nb = split(b, y, "\n"); if (na != nb) exit 1
            for (i = 1; i <= na; i++) { d = x[i] - y[i]; if (d < 0) d = -d; s = x[i] < 0 ? -x[i] : x[i]
                if (d > 1e-5 * (s > 1e-3 ? s : 1e-3)) { print "step " i ": " x[i] " vs " y[i]; exit 1 } } }'
    done
}
same text_lstm --config configs/lstm.yaml --set model.input.dim=16 --set model.layers.0.hidden=24 \
    --set train.batch=6 --set train.seq_len=12 --set train.steps=12 --set train.eval_every=6 \
    --set train.eval_batches=3
same adding --config configs/experiments/adding.yaml --set model.layers.0.hidden=8 --set data.length=12 \
    --set train.batch=5 --set train.steps=12 --set train.eval_every=0
same half_sse --config tests/configs/four_inline.yaml
same mse --config tests/configs/four_inline.yaml --set model.loss.type=mse
finish
