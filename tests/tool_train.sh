#!/usr/bin/env bash
# The train tool end to end: a short run of the default config learns and fills its run
# directory; the worked example's loss; every kind of bad checkpoint and bad config is
# refused with exit 1 and a message saying which; --help, --version.
# Usage: tool_train.sh TRAIN_BINARY (resume: tool_train_resume.sh; signals, kill -9 and
# NaN: tool_train_crash.sh)
source "$(dirname "$0")/tool_train_lib.sh"
small=(--set model.input.dim=16 --set model.layers.0.hidden=32 --set train.batch=4 --set train.seq_len=16)

# ---- 1. the default LSTM config, 40 small steps ----
r=$tmp/e2e
run --config configs/lstm.yaml "${small[@]}" --set train.steps=40 --set run.dir="$r"
check "lstm.yaml 40 steps exits 0 (got $rc)" [ "$rc" = 0 ]
check "it reports the loss before any update" grep -qE '^step 0: loss [0-9.]+' <<<"$out"
check "it says done" grep -qF "done: 40 steps" <<<"$out"
for f in config.yaml log.csv loss.svg checkpoint.safetensors; do check "run dir has $f" test -s "$r/$f"; done
check "no temporary file is left" test -z "$(find "$r" -name '*.tmp')"
check "log.csv header" [ "$(head -1 "$r/log.csv")" = "step,loss,val_loss,lr,grad_norm,tokens_per_s,elapsed_s" ]
first=$(sed -n 2p "$r/log.csv") last=$(tail -1 "$r/log.csv")
check "log.csv has 4 rows, steps 10..40" [ "$(cut -d, -f1 "$r/log.csv" | tail -n +2 | tr '\n' ' ')" = "10 20 30 40 " ]
check "the loss goes down (first row '$first', last '$last')" \
    awk -F, -v a="${first#*,}" -v b="${last#*,}" 'BEGIN { split(a, x); split(b, y); exit !(y[1] + 0 < x[1] - 0.1) }'
check "the last row has a validation loss" awk -F, '{ v = $3 } END { exit !(v > 0) }' "$r/log.csv"
check "loss.svg is an SVG with a polyline" grep -q "<svg xmlns=" "$r/loss.svg"
check "loss.svg has the training-loss polyline" grep -q "<polyline .*points='[0-9]" "$r/loss.svg"
check "loss.svg ends with </svg>" [ "$(tail -1 "$r/loss.svg")" = "</svg>" ]
check "loss.svg has as many <text as </text>" \
    [ "$(grep -o '<text' "$r/loss.svg" | wc -l)" = "$(grep -o '</text>' "$r/loss.svg" | wc -l)" ]
check "config.yaml holds the overrides" grep -q "hidden: 32" "$r/config.yaml"
check "config.yaml holds the data path absolute" grep -qE "path: /.*/configs/data/sonnets.txt" "$r/config.yaml"
check "the checkpoint is at step 40" [ "$(ck_meta "$r/checkpoint.safetensors" step)" = 40 ]
# a finished run resumes to nothing more and leaves its checkpoint as it was
cp "$r/checkpoint.safetensors" "$tmp/e2e.ck"
expect 0 "done: 40 steps" -- --resume "$r"
check "resuming a finished run rewrites nothing" cmp -s "$r/checkpoint.safetensors" "$tmp/e2e.ck"

# ---- 2. the course notes' worked example ----
expect 0 "step 0: loss 2.06546, val loss 2.06546 (before any update)" -- \
    --config configs/seed_example.yaml --set train.steps=0 --set run.dir="$tmp/seed"
check "train.steps=0 writes no checkpoint" test ! -e "$tmp/seed/checkpoint.safetensors"

# ---- 7. bad checkpoints ----
good=$tmp/good
run --config configs/lstm.yaml "${small[@]}" --set train.steps=3 --set train.eval_every=0 --set run.dir="$good"
check "a 3-step run for the checkpoint tests exits 0" [ "$rc" = 0 ]
ck=checkpoint.safetensors
size=$(stat -c %s "$good/$ck") hlen=$(hdr_len "$good/$ck")
bad() { rm -rf "$tmp/bad"; cp -r "$good" "$tmp/bad"; } # a fresh copy of the good run in $tmp/bad
bad; truncate -s $((size - 100)) "$tmp/bad/$ck"
expect 1 "$tmp/bad/$ck: error: tensor 'data.vocab_bytes': data_offsets beyond the end of the data" -- --resume "$tmp/bad"
bad; truncate -s 100 "$tmp/bad/$ck"
expect 1 "$tmp/bad/$ck: error: truncated: the header says $hlen bytes but the file has 100" -- --resume "$tmp/bad"
bad; truncate -s 5 "$tmp/bad/$ck"
expect 1 "error: truncated: the file has 5 bytes" -- --resume "$tmp/bad"
bad; : >"$tmp/bad/$ck"
expect 1 "error: empty file" -- --resume "$tmp/bad"
bad; flip_byte "$tmp/bad/$ck" $((hlen + 8 + 4))
expect 1 "$tmp/bad/$ck: error: checkpoint refused: it is corrupt (checksum" -- --resume "$tmp/bad"
bad; flip_byte "$tmp/bad/$ck" $((size - 1))
expect 1 "checkpoint refused: it is corrupt (checksum" -- --resume "$tmp/bad"
bad; flip_byte "$tmp/bad/$ck" 8
expect 1 "error: invalid JSON in the header at byte 8" -- --resume "$tmp/bad"
# the step in the metadata: still valid JSON, caught by the checksum
off=$(grep -abo '"step":"3"' "$good/$ck" | head -1 | cut -d: -f1)
bad; flip_byte "$tmp/bad/$ck" $((off + 8))
expect 1 "checkpoint refused: it is corrupt" -- --resume "$tmp/bad"
# a byte changed anywhere is refused: 60 places spread over the file, header and data
missed=""
for ((k = 0; k < 60; k++)); do
    off=$((k < 30 ? k * (hlen + 8) / 30 : hlen + 8 + (k - 30) * (size - hlen - 8) / 30))
    bad; flip_byte "$tmp/bad/$ck" "$off"
    run --resume "$tmp/bad" --set train.steps=4
    [ "$rc" = 1 ] && grep -qF "$tmp/bad/$ck: error: " <<<"$out" || missed="$missed $off(exit $rc)"
done
check "a flipped byte at each of 60 offsets is refused with exit 1 (missed:${missed:- none})" [ -z "$missed" ]
bad; printf '\x20\0\0\0\0\0\0\0{"__metadata__":{"format":"pt"}}' >"$tmp/bad/$ck" # valid, but no training state
expect 1 "$tmp/bad/$ck: error: checkpoint refused: it has no metadata 'step' (not a tapegrad training checkpoint" -- \
    --resume "$tmp/bad"
bad; rm "$tmp/bad/$ck"
expect 1 "$tmp/bad/$ck: error: cannot open: No such file or directory" -- --resume "$tmp/bad"
expect 1 "$tmp/none/config.yaml: error: cannot open: No such file or directory" -- --resume "$tmp/none"
# a checkpoint of another model: hidden 48 into a run whose config.yaml says 32
run --config configs/lstm.yaml "${small[@]}" --set model.layers.0.hidden=48 --set train.steps=1 --set run.dir="$tmp/h48"
bad; cp "$tmp/h48/$ck" "$tmp/bad/$ck"
expect 1 "$tmp/bad/$ck: error: checkpoint refused: it was written for another model or data" -- --resume "$tmp/bad"
bad; sed -i 's/hidden: 32/hidden: 24/' "$tmp/bad/config.yaml"
expect 1 "checkpoint refused: it was written for another model or data" -- --resume "$tmp/bad"
expect 1 "checkpoint refused: it holds the state of optimizer 'adam', this run uses 'sgd'" -- \
    --resume "$good" --set train.optimizer.type=sgd
check "the refused resumes left the good checkpoint at step 3" [ "$(ck_meta "$good/$ck" step)" = 3 ]

# ---- bad configs and command lines ----
expect 1 "$tmp/no/such.yaml: error: cannot open: No such file or directory" -- --config "$tmp/no/such.yaml"
expect 1 "configs/seed_example.yaml: error: unknown key 'stpes' in 'train' (did you mean 'steps'?)" -- \
    --config configs/seed_example.yaml --set train.stpes=3 --set run.dir="$tmp/x"
sed 's/^  steps: 50/  stpes: 50/' configs/seed_example.yaml >"$tmp/typo.yaml"
line=$(grep -n "stpes" "$tmp/typo.yaml" | cut -d: -f1)
expect 1 "$tmp/typo.yaml:$line:3: error: unknown key 'stpes' in 'train' (did you mean 'steps'?)" -- \
    --config "$tmp/typo.yaml" --set run.dir="$tmp/x"
expect 1 "'hiden' is not a hyper-parameter of cell 'lstm' (did you mean 'hidden'?)" -- \
    --config configs/lstm.yaml --set model.layers.0.hiden=3 --set run.dir="$tmp/x"
expect 1 "--set needs key.path=value, got 'train.steps'" -- --config configs/seed_example.yaml --set train.steps
expect 1 "configs/seed_example.yaml: error: 'train.steps': expected an integer in [0, 1000000000], got '-1'" -- \
    --config configs/seed_example.yaml --set train.steps=-1 --set run.dir="$tmp/x"
# sizes refused with the config's position before anything large is allocated, and
# before the run directory is made
printf 'model:\n  input: {type: embedding, vocab: 1000000, dim: 16}\n  layers: [{cell: lstm, hidden: 8}]\n%s\n' \
    "data: {type: chars, path: $PWD/configs/data/sonnets.txt}" >"$tmp/vocab.yaml"
expect 1 "$tmp/vocab.yaml:2:35: error: 'model.input.vocab' is 1000000 but the data has 56 symbols" -- \
    --config "$tmp/vocab.yaml" --set run.dir="$tmp/x"
TG_MEMORY_LIMIT=1M expect 1 "configs/lstm.yaml:9:7: error: the model's 555064 parameters need 8.5 MiB with their \
gradients and optimizer state, more than the memory limit of 1.0 MiB; the largest is 'layers.0.weight_ih' [1024,256], \
of 'model.layers[0]' (TG_MEMORY_LIMIT sets the limit)" -- --config configs/lstm.yaml --set run.dir="$tmp/x"
expect 1 "error: 'train.seq_len': expected an integer in [1, 1000000], got '0'" -- \
    --config configs/lstm.yaml --set train.seq_len=0 --set run.dir="$tmp/x"
expect 1 "error: 'train.batch': expected an integer in [1, 65536], got '-4'" -- \
    --config configs/lstm.yaml --set train.batch=-4 --set run.dir="$tmp/x"
check "no run directory was made for a refused config" test ! -e "$tmp/x"

# ---- 8. the command line ----
expect 0 "usage: train --config FILE.yaml" -- --help
expect 0 "Exit status: 0 done, 1 usage or config error, 3 NaN or Inf, 130 interrupted." -- -h
expect 0 "tapegrad train " -- --version
expect 1 "train: give exactly one of --config or --resume" --
expect 1 "train: give exactly one of --config or --resume" -- --config a.yaml --resume b
expect 1 "train: unknown option --stpes" -- --config configs/seed_example.yaml --stpes 3
expect 1 "train: missing value after --config" -- --config
# --profile: a table of the kernels' time by op, the optimizer's, and their total
run --config configs/lstm.yaml "${small[@]}" --set train.steps=4 --set run.dir="$tmp/prof" --quiet --profile
check "--profile exits 0 (got $rc)" [ "$rc" = 0 ]
check "--profile says what it sums" grep -qE '^profile: 4 steps on [0-9]+ threads? in [0-9.]+ s; kernel time summed over the threads' <<<"$out"
check "--profile has the products' row" grep -qE '^  matmul +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+%$' <<<"$out"
check "--profile has the optimizer's row" grep -qE '^  optimizer \(gradient norm, update\) +4 ' <<<"$out"
check "--profile's shares add up to 100%" awk '/%$/ { s += $NF + 0 } END { exit !(s > 99.5 && s < 100.5) }' <<<"$out"
check "--profile ends with the total" grep -qE '^  total +[0-9.]+$' <<<"$out"
finish
