"""``python -m astroagent`` is the ``astroagent`` command."""

from astroagent.cli import main

main()
