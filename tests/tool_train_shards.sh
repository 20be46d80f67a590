#!/usr/bin/env bash
# Data parallel across threads: with 2 and 3 OpenMP threads the trainer splits each
# batch over threads (model replicas sharing parameters) and combines the losses and
# gradients; every logged loss must match the 1-thread run's to 1e-5 relative (float
# sums in another order), and so must the validation losses, for a mean over tokens
# with carried state (text LSTM, evaluated every 6 steps), a mean
# over sequences (adding task, loss on the last step), a sum (half_sse) and a mean
# (mse) over inline sequences. And a Transformer large enough that the kernels inside
# each shard run as tasks that an idle thread takes (ops/op.h, TG_TASKED): the same
# losses too, `--profile` counts the tasks, and two 2-thread runs end with the same
# parameters to the bit. Usage: tool_train_shards.sh TRAIN_BINARY
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

tf=(--config configs/experiments/shakespeare_transformer.yaml --set data.path="$PWD/configs/data/sonnets.txt"
    --set data.val_fraction=0 --set train.batch=16 --set train.seq_len=64 --set train.steps=3
    --set train.eval_every=0 --set train.schedule.warmup=0)
same transformer "${tf[@]}"
for i in 1 2; do
    OMP_NUM_THREADS=2 "$train" "${tf[@]}" --set run.dir="$tmp/tf2.$i" --quiet --profile > "$tmp/tf_out.$i" 2>&1 &&
        ok "transformer, 2 threads, run $i" || { fail "transformer, 2 threads, run $i:"; cat "$tmp/tf_out.$i"; }
done
check "transformer, 2 threads: --profile counts the tasks ($(grep -h '^tasks:' "$tmp/tf_out.1"))" \
    grep -Eq '^tasks: [1-9][0-9]* blocks' "$tmp/tf_out.1"
check "transformer, 2 threads: two runs end with the same parameters to the bit" \
    cmp -s <(ck_data "$tmp/tf2.1/checkpoint.safetensors") <(ck_data "$tmp/tf2.2/checkpoint.safetensors")
finish
