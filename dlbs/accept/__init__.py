"""``dlbs accept`` (issue 60): node acceptance for GPU centres.

verdict (each node x check against a reference range and against the fleet, pure), node
(this host's checks run as subprocesses, the reference table read), dcgmi (``dcgmi diag``
output parsed, pure), junit (one JUnit test case a node x check). Statistics come from
:mod:`benchstats.fleet`, the bus bandwidth from :mod:`benchstats.busbw`.
"""
