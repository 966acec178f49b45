"""A small client for the team's data archive, with a transit model for quick checks."""
