"""The bridge to real Bitrix24 portals: REST snapshots, what they show, and verdicts beside them."""

SCOPES = ("bizproc", "crm", "lists", "disk")  # what a pull's webhook must be given
