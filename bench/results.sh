#!/usr/bin/env bash
# Runs the experiments of docs/results.md one after another and prints each run's exit
# status, time and last log row. Usage: bash bench/results.sh [BUILD_DIR] [NAME...]
# Each run writes runs/<name>/ (config.yaml, log.csv, loss.svg, checkpoint) and
# runs/<name>.out. Threads: OMP_NUM_THREADS (default 1, so two runs can share 2 cores).
set -u
cd "$(dirname "$0")/.."
bin=${1:-build}/bin
shift || true
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
long="--set train.steps=20000 --set train.eval_every=1000 --set train.log_every=500"
all="adding100_irnn adding100_rnn adding100_lstm copy100_lstm shakespeare_lstm shakespeare_transformer"
for name in ${@:-$all}; do
    case $name in
    adding100_irnn) run $name configs/experiments/adding.yaml --set model.layers.0.cell=irnn $long ;;
    adding100_rnn) run $name configs/experiments/adding.yaml --set model.layers.0.cell=rnn $long ;;
    adding100_lstm) run $name configs/experiments/adding.yaml --set model.layers.0.cell=lstm $long ;;
    copy100_lstm) run $name configs/experiments/copy.yaml --set train.steps=10000 --set train.eval_every=1000 ;;
    shakespeare_lstm) OMP_NUM_THREADS=2 run $name configs/experiments/shakespeare_lstm.yaml ;;
    shakespeare_transformer) run $name configs/experiments/shakespeare_transformer.yaml --set train.steps=1500 ;;
    *) echo "unknown experiment $name" ;;
    esac
done
