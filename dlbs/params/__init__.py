"""Declarations about parameters that every part of dlbs reads alike (``identity``: what
identifies a run). Pure: the standard library and ``dlbs.experiment.values`` only."""
