"""rosterflow: flows."""
