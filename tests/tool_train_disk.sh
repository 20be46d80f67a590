#!/usr/bin/env bash
# The train tool when the disk fills up during a checkpoint: the write fails with a
# clear error and exit 1, the previous checkpoint is left as it was (byte for byte, no
# temporary file beside it), and the run resumes from it. Two ways to fill the disk:
#  - a file size limit (ulimit -f: the write fails with EFBIG), which needs no privilege;
#  - a real tmpfs too small for a second checkpoint as run.dir (ENOSPC), when this runs
#    as root on a machine that lets it mount (skipped, saying so, otherwise).
# Usage: tool_train_disk.sh TRAIN_BINARY
source "$(dirname "$0")/tool_train_lib.sh"
ck=checkpoint.safetensors
tiny=(--set model.input.dim=8 --set model.layers.0.hidden=64 --set train.batch=2 --set train.seq_len=8
      --set train.eval_every=0 --set train.checkpoint_every=1)

# ---- a file size limit ----
r=$tmp/fsize
run --config configs/lstm.yaml "${tiny[@]}" --set train.steps=2 --set run.dir="$r"
check "2 steps with a checkpoint after each exit 0 (got $rc)" [ "$rc" = 0 ]
cp "$r/$ck" "$tmp/ck2"
size=$(stat -c %s "$r/$ck")
out=$( (ulimit -f $((size / 2048)); "$train" --resume "$r" --set train.steps=4) 2>&1); rc=$?
check "a checkpoint over the file size limit: exit 1 (got $rc)" [ "$rc" = 1 ]
check "... the message names the file, the cause and the step" grep -qF \
    "$r/$ck: error: write failed: File too large; stopped at step 3, the previous checkpoint is kept" <<<"$out"
check "... the previous checkpoint is unchanged" cmp -s "$r/$ck" "$tmp/ck2"
check "... no temporary file is left" test -z "$(find "$r" -name '*.tmp')"
expect 0 "done: 4 steps" -- --resume "$r" --set train.steps=4
check "... and the run resumes from step 2" grep -qE "^step 2: loss" <<<"$out"

# ---- a full tmpfs ----
mnt=$tmp/mnt
mkdir -p "$mnt"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=$((size * 3 / 2)) tmpfs "$mnt" 2>/dev/null; then
    trap 'umount "$mnt"; rm -rf "$tmp"' EXIT
    r=$mnt/run
    run --config configs/lstm.yaml "${tiny[@]}" --set train.steps=5 --set run.dir="$r"
    check "tmpfs of $((size * 3 / 2)) bytes, a checkpoint of $size: exit 1 at the second checkpoint (got $rc)" [ "$rc" = 1 ]
    check "... the message names the file, the cause and the step" grep -qF \
        "$r/$ck: error: write failed: No space left on device; stopped at step 2, the previous checkpoint is kept" <<<"$out"
    check "... the checkpoint of step 1 is there" [ "$(ck_meta "$r/$ck" step)" = 1 ]
    check "... no temporary file is left" test -z "$(find "$r" -name '*.tmp')"
    cp -r "$r" "$tmp/copy"
    expect 0 "done: 3 steps" -- --resume "$tmp/copy" --set train.steps=3
    check "... and resumes from step 1 elsewhere" grep -qE "^step 1: loss" <<<"$out"
else
    echo "skipped: the full tmpfs (needs root and permission to mount)"
fi
finish
