"""Scenario files shipped with the package (TOML), usable by name."""
