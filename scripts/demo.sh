#!/usr/bin/env bash
# The main job: sets up the project, then simulates a month of a typical cloud CRM portal's
# traffic into the default store (a SQLite file, demo/autostart.db, made anew each run),
# checks the SPEC's laws on it and prints the summary. Exit status 1 if a law is violated.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --without-postgres
mkdir -p demo
rm -f demo/autostart.db demo/autostart.db-journal
cd demo
../.venv/bin/autostart simulate typical-cloud "$@"
