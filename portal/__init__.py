"""The bridge to real Bitrix24 portals: REST snapshots, what they show, and verdicts beside them."""
