"""The bridge to real Bitrix24 portals: REST snapshots, what they show, and verdicts beside them."""

SCOPES = ("bizproc", "crm", "lists", "disk")  # what a pull's webhook must be given
# The CRM activities a workflow leaves in an item's timeline (crm.activity.list's PROVIDER_ID).
BIZPROC_PROVIDERS = ("CRM_BIZPROC_TASK", "CRM_BIZPROC_WORKFLOW", "CRM_BIZPROC_COMMENT")
