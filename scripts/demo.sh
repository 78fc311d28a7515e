#!/usr/bin/env bash
# The main job on the default SQLite store: replays the shipped example traffic (CRM, Feed,
# Drive) into ./example.db, made anew each run, and prints one decision per line.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --without-postgres
rm -f example.db
.venv/bin/autostart example | .venv/bin/autostart replay - --store example.db
