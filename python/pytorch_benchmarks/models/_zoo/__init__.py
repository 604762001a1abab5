"""The zoo's machinery, apart from the model families (timm keeps its own in ``_registry``,
``_builder``...): the registry (:mod:`.registry`), ``--model_config`` text (:mod:`.config`), the
settings the transformers share and their checks (:mod:`.settings`), the metadata read from the
sources without torch (:mod:`.metadata`), the models of other packages (the ``dlbs.models``
entry point group, :mod:`.plugins`) and the loader that registers every family, then the
plugins (:mod:`.loader`).

Importing this package imports nothing: ``config``, ``settings``, ``metadata`` and ``plugins``
need no torch; ``registry`` and ``loader`` import it. The public API is
:mod:`pytorch_benchmarks.models`'s.
"""
