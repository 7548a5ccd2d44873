"""rosterflow: demo."""
