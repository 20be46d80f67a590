#!/usr/bin/env bash
# valgrind.sh BUILD_DIR: the whole CTest suite under valgrind's memcheck, by hand (it
# takes the better part of an hour; CI runs ASan + UBSan instead). BUILD_DIR: a Debug or
# RelWithDebInfo build with -DTG_NATIVE=OFF (valgrind does not know AVX-512), e.g.
#     cmake -S . -B build-vg -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTG_NATIVE=OFF
#     cmake --build build-vg -j2 && bash tests/valgrind.sh build-vg
# The C tests and the gradcheck runs run under `ctest -T memcheck`; the shell tests
# (tool_*) call the tools through wrappers that run them under valgrind, so every train
# and gradcheck they start is checked. An error is any memcheck error or a definite or
# indirect leak ("still reachable" memory of libgomp and oneDNN is not one); each fails
# its test (exit 99), and every log is scanned again at the end. Suppressions: only
# tests/valgrind.supp (third-party libraries, each entry says why).
set -u
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
logs=$build/valgrind
rm -rf "$logs" && mkdir -p "$logs/tools"
opts="--leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
--error-exitcode=99 --num-callers=30 --suppressions=$src/tests/valgrind.supp"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
status=0

echo "=== C tests and gradcheck runs: ctest -T memcheck ==="
cmake "$build" -DMEMORYCHECK_COMMAND=/usr/bin/valgrind -DMEMORYCHECK_COMMAND_OPTIONS="$opts" >/dev/null
# (the timeout is multiplied: valgrind runs 20-50 times slower)
ctest --test-dir "$build" -T memcheck -E '^(tool_|torch_)' --timeout 3000 -j"${JOBS:-2}" || status=1

echo "=== shell tests, each tool under valgrind ==="
for tool in train gradcheck; do
    cat >"$logs/$tool" <<WRAP
#!/bin/sh
exec valgrind $opts --log-file=$logs/tools/$tool.%p.log "$build/bin/$tool" "\$@"
WRAP
    chmod +x "$logs/$tool"
done
export TG_SLOW=${TG_SLOW:-30} # (waits and kill delays of the shell tests, see tool_train_lib.sh)
for s in tool_gradcheck tool_train tool_train_resume tool_train_crash tool_train_disk; do
    bin=$logs/train
    [ $s = tool_gradcheck ] && bin=$logs/gradcheck
    echo "--- $s"
    bash "$src/tests/$s.sh" "$bin" >"$logs/$s.out" 2>&1 || { status=1; grep -E "^FAIL" "$logs/$s.out"; }
    tail -1 "$logs/$s.out"
done

echo "=== every valgrind log ==="
logs_all=("$build"/Testing/Temporary/MemoryChecker.*.log "$logs"/tools/*.log)
bad=$(grep -lE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]" "${logs_all[@]}" 2>/dev/null)
echo "${#logs_all[@]} logs; with an error or a definite/indirect leak: ${bad:-none}"
[ -z "$bad" ] || status=1
exit $status
