"""Real astrophysics on real data, and the archive that serves the data.

    datasets        dataset ids → packaged files; strict parsers (DataError on bad input)
    archive_server  the HTTP data archive on loopback, with reproducible fault injection
    transits        running-median detrend + box-least-squares transit search
    populations     radius valley, small-planet mass–radius power law
    stellar         mass–luminosity (DEBCat), HR diagram (Hipparcos), Leavitt law (Riess 2011)
    plots           one labelled PNG per experiment kind
    projects        the planner: research areas → varied, reproducible projects

Data credits: ``data/SOURCES.md``.
"""

__all__: list[str] = []
