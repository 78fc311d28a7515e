"""Writes a synthetic traffic file of N lines for replay benchmarks (seeded, reproducible)."""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3)))
CRM_CHANNELS = ["ui", "web_form", "call", "email", "rest", "rest_item", "open_line", "import"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("lines", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = sys.stdout
    header = [
        {
            "op": "template",
            "template": 11,
            "document_type": "crm.deal",
            "auto_execute": 3,
            "duration": 1800,
        },
        {
            "op": "template",
            "template": 12,
            "document_type": "crm.deal",
            "auto_execute": 1,
            "duration": 600,
        },
        {
            "op": "template",
            "template": 21,
            "document_type": "crm.lead",
            "auto_execute": 3,
            "actions": [{"update": {"STATUS_ID": "IN_PROCESS"}}],
        },
        {"op": "template", "template": 31, "document_type": "feed.iblock_22", "auto_execute": 1},
        {"op": "template", "template": 41, "document_type": "disk.storage_1", "auto_execute": 3},
    ]
    for line in header:
        out.write(json.dumps(line) + "\n")
    at = START
    ids: dict[str, int] = {}
    live: dict[str, list[int]] = {}
    for _ in range(args.lines - len(header)):
        at += timedelta(seconds=rng.randint(1, 40))
        doc_type = rng.choice(
            ["crm.deal", "crm.deal", "crm.lead", "feed.iblock_22", "disk.storage_1"]
        )
        existing = live.setdefault(doc_type, [])
        if existing and rng.random() < 0.6:
            element = f"{doc_type}:{rng.choice(existing[-500:])}"
            channel = rng.choice(CRM_CHANNELS[:-1]) if doc_type.startswith("crm") else "ui"
            line = {
                "op": "update",
                "at": at.isoformat(),
                "element": element,
                "channel": channel,
                "changed": {"FIELD": rng.randint(0, 9)},
            }
        else:
            ids[doc_type] = ids.get(doc_type, 0) + 1
            existing.append(ids[doc_type])
            channel = rng.choice(CRM_CHANNELS) if doc_type.startswith("crm") else "ui"
            line = {
                "op": "create",
                "at": at.isoformat(),
                "element": f"{doc_type}:{ids[doc_type]}",
                "channel": channel,
            }
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
