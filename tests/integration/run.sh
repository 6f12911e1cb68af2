#!/bin/bash
# coffer integration suite: real clients against a real `coffer serve`.
#
#   tests/integration/run.sh [BINARY] [extra pytest args...]
#
# Two passes:
#   (a) Debian's /usr/bin/python3 with Debian's python3-boto3 (1.26) and
#       python3-pytest: the whole suite.
#   (b) the current boto3 (the first `python3` on PATH that is not Debian's,
#       e.g. pyenv's, with boto3 >= 1.36) with Debian's pytest borrowed
#       through a directory of symlinks on PYTHONPATH that holds only pytest
#       and its pure-python dependencies that interpreter lacks -- never
#       boto3/botocore/s3transfer, so Debian's old ones cannot shadow it.
#       Runs the tests of client behaviour: everything except the 1 GiB
#       test, the CLI clients, the crash rounds and the serverside tests
#       (disks, faults, CLI tools: none of these depend on
#       the interpreter).
#
# Environment:
#   COFFER_PASS_B_PYTHON   interpreter for pass (b) (default: python3 on PATH)
#   COFFER_PASS_B_MARK     pytest -m expression for pass (b)
#                          (default: "not large and not clients and not crash
#                          and not serverside")
#   COFFER_PASS_A_MARK     pytest -m expression for pass (a) (default: all)
#   COFFER_TEST_ENDPOINT   run against an external S3 endpoint instead of BINARY
# Exit status: non-zero if any pass failed or ran no test.
set -u

HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${1:-/work/main/build/coffer}"
[ $# -gt 0 ] && shift
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac

DEB_PY=/usr/bin/python3
DEB_SITE=/usr/lib/python3/dist-packages
PASS_B_MARK="${COFFER_PASS_B_MARK:-not large and not clients and not crash and not serverside}"
PASS_A_MARK="${COFFER_PASS_A_MARK:-}"

if [ -z "${COFFER_TEST_ENDPOINT:-}" ] && [ ! -x "$BIN" ]; then
    echo "run.sh: coffer binary not found or not executable: $BIN" >&2
    exit 2
fi

TMP="$(mktemp -d /tmp/coffer-it-run.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

# pytest prints "N passed, M failed" etc.; we also need to catch "no tests ran"
run_pass() {   # name python mark [pytest args...]
    local name="$1" py="$2" mark="$3"; shift 3
    local log="$TMP/$name.log" rc
    echo
    echo "=================================================================="
    echo "== pass $name: $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    echo "==   boto3 $("$py" -c 'import boto3, botocore; print(boto3.__version__, "/ botocore", botocore.__version__)')"
    echo "==   pytest $("$py" -c 'import pytest; print(pytest.__version__, "from", pytest.__file__)')"
    [ -n "$mark" ] && echo "==   selection: -m \"$mark\""
    echo "=================================================================="
    local args=(-m pytest "$HERE" --coffer-bin "$BIN")
    [ -n "$mark" ] && args+=(-m "$mark")
    (cd "$HERE" && PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 "$py" "${args[@]}" "$@") 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 5 ] || ! grep -Eq '[0-9]+ passed' "$log"; then
        if [ "$rc" -eq 0 ] || [ "$rc" -eq 5 ]; then
            echo "run.sh: pass $name ran no test that passed -- treating as failure" >&2
            rc=1
        fi
    fi
    echo "== pass $name: exit $rc"
    return "$rc"
}

status=0

# ---- pass (a): Debian python3 + python3-boto3 + python3-pytest
if [ ! -x "$DEB_PY" ] || ! "$DEB_PY" -c 'import boto3, pytest' 2>/dev/null; then
    echo "run.sh: pass a needs Debian's python3, python3-boto3 and python3-pytest (make deps)" >&2
    status=1
else
    run_pass a "$DEB_PY" "$PASS_A_MARK" "$@" || status=1
fi

# ---- pass (b): the current boto3 with Debian's pytest borrowed
PY_B="${COFFER_PASS_B_PYTHON:-}"
if [ -z "$PY_B" ]; then
    # the first python3 on PATH that is not Debian's
    IFS=: read -r -a dirs <<< "$PATH"
    for d in "${dirs[@]}"; do
        [ -x "$d/python3" ] || continue
        real="$("$d/python3" -c 'import sys; print(sys.executable)' 2>/dev/null)" || continue
        case "$real" in /usr/bin/python3*|/bin/python3*) continue ;; esac
        PY_B="$real"; break
    done
fi
if [ -z "$PY_B" ] || ! "$PY_B" -c 'import boto3' 2>/dev/null; then
    echo
    echo "NOTICE: no interpreter with the current boto3 found (looked for a non-Debian"
    echo "NOTICE: python3 on PATH, or COFFER_PASS_B_PYTHON): pass b (current boto3) SKIPPED."
else
    SHIM="$TMP/pytest-shim"
    mkdir -p "$SHIM"
    # pytest and its pure-python dependencies, only those the interpreter
    # lacks; boto3/botocore/s3transfer/urllib3 are never linked.
    for m in pytest _pytest pluggy iniconfig packaging py attr attrs exceptiongroup tomli; do
        if ! "$PY_B" -c "import $m" 2>/dev/null; then
            for p in "$DEB_SITE/$m" "$DEB_SITE/$m.py"; do
                [ -e "$p" ] && ln -s "$p" "$SHIM/"
            done
        fi
    done
    for p in "$DEB_SITE"/pytest-*.dist-info; do [ -e "$p" ] && ln -s "$p" "$SHIM/"; done
    if ! PYTHONPATH="$SHIM" "$PY_B" -c 'import pytest' 2>"$TMP/shim.err"; then
        echo "run.sh: could not make Debian's pytest importable for $PY_B:" >&2
        cat "$TMP/shim.err" >&2
        status=1
    elif [ "$(PYTHONPATH="$SHIM" "$PY_B" -c 'import botocore, os; print(os.path.realpath(botocore.__file__).startswith("/usr/lib/python3/"))')" = "True" ]; then
        echo "run.sh: pass b would use Debian's botocore -- refusing" >&2
        status=1
    else
        export PYTHONPATH="$SHIM${PYTHONPATH:+:$PYTHONPATH}"
        run_pass b "$PY_B" "$PASS_B_MARK" "$@" || status=1
        unset PYTHONPATH
    fi
fi

echo
if [ "$status" -eq 0 ]; then echo "run.sh: all passes succeeded"; else echo "run.sh: FAILED"; fi
exit "$status"
