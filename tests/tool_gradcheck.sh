#!/usr/bin/env bash
# The gradcheck tool's exit codes and messages: 0 all pass, 2 a failed check, 1 a usage
# or config error (with file:line:col). Usage: tool_gradcheck.sh GRADCHECK_BINARY
set -u
gc=$1
cd "$(dirname "$0")"
fails=0
expect() { # expect CODE PATTERN -- ARGS...
    local code=$1 pat=$2; shift 3
    out=$("$gc" "$@" 2>&1); rc=$?
    if [ "$rc" != "$code" ] || ! grep -qF -- "$pat" <<<"$out"; then
        echo "FAIL: gradcheck $* -> exit $rc (want $code), output:"; echo "$out" | head -5; fails=$((fails+1))
    else
        echo "ok: gradcheck $* -> exit $rc"
    fi
}
expect 0 "4 of 4 tensors pass" -- --cell cells/linear.yaml --all
expect 2 "FAIL" -- --cell cells/kink.yaml --param W --all
expect 1 "bad/model_unknown_key.yaml:4:3: error: unknown key 'layer' in 'model' (did you mean 'layers'?)" -- --config bad/model_unknown_key.yaml
expect 1 "bad/cell_syntax_error.yaml:9:19: error: expected a name, a number or '(', found ')'" -- --cell bad/cell_syntax_error.yaml
expect 1 "no/such.yaml: error: cannot open: No such file or directory" -- --config no/such.yaml
expect 1 "unknown option --stpes" -- --config configs/peephole.yaml --stpes 3
expect 1 "give exactly one of --config or --cell" --
expect 1 "--steps needs an integer in [1, 100000], got 0" -- --config configs/peephole.yaml --steps 0
expect 0 "usage: gradcheck" -- --help
echo "$((9 - fails)) passed, $fails failed"
[ "$fails" = 0 ]
