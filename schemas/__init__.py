"""rosterflow: schemas."""
