"""Poll the archive for the Cepheid table and fit the period-luminosity slope."""
