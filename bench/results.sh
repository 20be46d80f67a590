#!/usr/bin/env bash
# Runs the experiments of docs/results.md one after another and prints each run's final
# validation loss, steps and time. Usage: bash bench/results.sh [BUILD_DIR]
# Each run writes runs/<name>/ (config.yaml, log.csv, loss.svg, checkpoint) and
# runs/<name>.out. Threads: OMP_NUM_THREADS (default 1, so two runs can share 2 cores).
set -u
cd "$(dirname "$0")/.."
bin=${1:-build}/bin
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p runs
run() { # NAME CONFIG [--set ...]
    local name=$1 cfg=$2; shift 2
    local t0=$(date +%s)
    "$bin/train" --config "$cfg" --set run.dir=runs/$name "$@" > runs/$name.out 2>&1
    local rc=$? t1=$(date +%s)
    local last=$(tail -n 1 runs/$name/log.csv 2>/dev/null)
    echo "$name: exit $rc, $((t1 - t0)) s, last log row (step,loss,val_loss,lr,grad_norm,tok/s,elapsed): $last"
}
run adding100_lstm configs/experiments/adding.yaml --set model.layers.0.cell=lstm
run adding100_irnn configs/experiments/adding.yaml --set model.layers.0.cell=irnn
run adding100_rnn configs/experiments/adding.yaml --set model.layers.0.cell=rnn
run copy100_lstm configs/experiments/copy.yaml
run shakespeare_transformer configs/experiments/shakespeare_transformer.yaml --set train.steps=1500
