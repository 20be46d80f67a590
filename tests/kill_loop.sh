#!/usr/bin/env bash
# kill_loop.sh TRAIN_BINARY [COUNT [SEED]]: kill -9 the train tool COUNT times (default
# 20) at random moments of a run that writes a checkpoint after every step; after each
# kill, the checkpoint left behind must load and resume one more step. Reports how many
# kills hit a checkpoint write (a checkpoint.safetensors.tmp was left behind: killed
# between the temporary file's creation and the rename); at most the step in progress
# is lost by a kill, as a checkpoint follows every step. Exits 1 if any resume failed.
# tool_train_crash.sh runs it 20 times; docs/reliability.md reports a manual run of 200:
#     bash tests/kill_loop.sh build/bin/train 200
source "$(dirname "$0")/tool_train_lib.sh"
count=${2:-20}
RANDOM=${3:-7}
ck=checkpoint.safetensors
r=$tmp/kill
run --config configs/lstm.yaml --set model.input.dim=8 --set model.layers.0.hidden=64 --set train.batch=2 \
    --set train.seq_len=8 --set train.steps=1 --set train.eval_every=0 --set train.log_every=1000 \
    --set train.checkpoint_every=1 --set run.dir="$r"
check "kill loop: the first step exits 0" [ "$rc" = 0 ]
bad="" in_write=0 lost=0 first=$(ck_meta "$r/$ck" step)
for ((i = 0; i < count; i++)); do
    "$train" --resume "$r" --set train.steps=1000000 --quiet >"$tmp/out" 2>&1 &
    pid=$!
    ms=$(((50 + RANDOM % 250) * slow))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -9 $pid
    wait $pid 2>/dev/null
    [ -e "$r/$ck.tmp" ] && in_write=$((in_write + 1))
    cur=$(ck_meta "$r/$ck" step)
    run --resume "$r" --set train.steps=$((cur + 1))
    if [ "$rc" != 0 ] || ! grep -qE "^step $cur: loss" <<<"$out" || [ "$(ck_meta "$r/$ck" step)" != $((cur + 1)) ]; then
        bad="$bad $i"
        echo "kill $i at step $cur: resume exit $rc:"; tail -3 <<<"$out"
    fi
done
last=$(ck_meta "$r/$ck" step)
echo "kill loop: $count kills, $in_write during a checkpoint write; checkpoints went from step $first to $last"
check "kill -9 x$count: every checkpoint left loads and resumes one more step (failed:${bad:- none})" [ -z "$bad" ]
check "kill -9 x$count: the checkpoints moved on ($first -> $last)" [ "$last" -gt $((first + count)) ]
finish
