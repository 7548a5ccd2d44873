"""rosterflow: transforms."""
