"""rosterflow: warehouse."""
