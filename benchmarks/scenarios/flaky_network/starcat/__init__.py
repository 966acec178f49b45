"""Read the exoplanet catalogue from the team's archive and pick out hot Jupiters."""
