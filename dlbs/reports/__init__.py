"""dlbs.reports: tables, comparisons, charts and HTML pages from parsed benchmark records.

``frame`` turns records into a pandas frame, ``aggregate`` folds repeated runs into statistics
(``stats``), ``tables``/``summary``/``compare`` build ``Report``s (``model``), ``render`` and
``html`` write them, ``plots`` draws PNG charts; ``build`` is the entry point. The builders are
pure (records in, report out); only ``plots.write_charts`` writes files.
"""
