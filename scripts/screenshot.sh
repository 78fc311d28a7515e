#!/usr/bin/env bash
# Regenerates the README's screenshot of the element page (docs/element-page.png) from the
# example store, with the same headless Chromium the tests drive.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh >&2
.venv/bin/python tests/browsing.py docs/element-page.png
