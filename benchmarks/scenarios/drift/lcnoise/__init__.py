"""The photometric scatter of a Kepler light curve, read from the team's archive (the drift scenario's program)."""
