#!/usr/bin/env bash
# SIDECAR_BIN for valgrind-stdio.sh: the real server ($SIDECAR_VALGRIND_REAL_BIN) under valgrind
# memcheck, its report in $SIDECAR_VALGRIND_LOGS/vg.<pid>.log (not on stderr, which tests read).

# PCRE2's JIT code (QRegularExpression) reads 16 bytes at a time past the end of the subject
# string, which memcheck reports as invalid reads in code without symbols: Qt's own switch turns
# the JIT off (the interpreter matches the same).
export QT_ENABLE_REGEXP_JIT=0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# exec: the PID the test knows is the server's own, so its SIGTERM and SIGKILL reach the server.
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --num-callers=40 --suppressions="$here/valgrind.supp" \
    --log-file="${SIDECAR_VALGRIND_LOGS:?}/vg.%p.log" "${SIDECAR_VALGRIND_REAL_BIN:?}" "$@"
