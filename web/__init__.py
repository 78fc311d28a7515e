"""The web view for administrators: decisions, explanations and verdicts in a browser."""
