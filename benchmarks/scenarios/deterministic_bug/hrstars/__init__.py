"""Absolute magnitudes of nearby stars from survey tables served by the archive."""
