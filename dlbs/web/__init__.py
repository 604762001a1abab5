"""Web pages served by ``experimenter serve``: the live progress page of a sweep.

Standard library only (``http.server``); the page is self-contained (no external scripts,
styles or fonts) so it works on machines without network access.
"""
