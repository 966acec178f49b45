"""Fetch TESS light curves, retrying connection resets itself."""
