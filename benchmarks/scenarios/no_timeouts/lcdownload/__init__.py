"""Download Kepler light curves from the archive and measure their scatter."""
