#!/usr/bin/env bash
# A gradient that is not finite while the loss is: train stops with exit 3 and names the
# op whose backward made it, although training recycles gradient buffers (the step is
# re-run keeping every gradient to find it). Usage: tool_train_nan_grad.sh TRAIN_BINARY
source "$(dirname "$0")/tool_train_lib.sh"
run --config tests/configs/nan_in_backward.yaml --set run.dir="$tmp/nanb"
check "NaN in backward: exit 3 (got $rc)" [ "$rc" = 3 ]
check "NaN in backward: the message names the op, the equation and the direction" grep -qE \
    "^error: step 1: the gradient norm is -?(nan|inf); the first non-finite value came from op 'sqrt' in 'h = sqrt\(x @ W - x @ W\) \+ h' \(backward\)" <<<"$out"
grep error <<<"$out"
finish
