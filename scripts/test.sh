#!/usr/bin/env bash
# Runs every check of the project in order and stops at the first that fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    local name=$1
    shift
    printf 'test.sh: %s\n' "$name" >&2
    local status=0
    "$@" || status=$?
    if [[ $status -eq 5 && $name == pytest ]]; then
        printf 'test.sh: step "%s" failed: no tests were collected (exit 5)\n' "$name" >&2
        exit 1
    elif [[ $status -ne 0 ]]; then
        printf 'test.sh: step "%s" failed (exit %d)\n' "$name" "$status" >&2
        exit "$status"
    fi
}

step bootstrap bash scripts/bootstrap.sh
step "ruff check" .venv/bin/ruff check .
step "ruff format" .venv/bin/ruff format --check .
step mypy .venv/bin/mypy
step pytest .venv/bin/python -m pytest "$@"
printf 'test.sh: all steps passed\n' >&2
