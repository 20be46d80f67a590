#!/usr/bin/env bash
# Compares one cell or block with PyTorch (tests/torch/compare.py): gradcheck --dump into
# a temporary directory, then compare.py on the dump. Usage: run.sh GRADCHECK_BINARY KIND
# with KIND lstm, gru or attention. PyTorch is Debian's python3-torch under
# /usr/bin/python3 (TG_TORCH_PYTHON overrides it); without it the test is skipped: exit 77.
set -u
gc=$1 kind=$2
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/../../configs
py=${TG_TORCH_PYTHON:-/usr/bin/python3}
if ! [ -x "$py" ] || ! "$py" -c 'import torch, numpy' >/dev/null 2>&1; then
    echo "SKIPPED: torch not available ($py cannot import torch and numpy)"
    exit 77
fi
case $kind in
lstm) args=(--cell "$cfg/cells/lstm.yaml" --set input=3 --set hidden=4 --batch 2); cmp=(lstm) ;;
gru) args=(--cell "$cfg/cells/gru.yaml" --set input=3 --set hidden=4 --batch 2); cmp=(gru) ;;
attention) args=(--cell "$cfg/blocks/transformer.yaml" --set input=8 --set heads=2 --steps 4 --batch 2)
    cmp=(transformer --heads 2) ;;
*) echo "run.sh: unknown kind '$kind' (lstm, gru, attention)" >&2; exit 1 ;;
esac
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$gc" "${args[@]}" --dump "$tmp/dump.safetensors" || { echo "FAIL: gradcheck exited $?"; exit 1; }
"$py" "$here/compare.py" "${cmp[@]}" "$tmp/dump.safetensors"
