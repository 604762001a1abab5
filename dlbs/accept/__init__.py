"""``dlbs accept`` (issue 60): node acceptance for GPU centres.

verdict (each node x check against a reference range and against the fleet, pure), busbw (the
all-reduce bus bandwidth as nccl-tests defines it, pure), dcgmi (``dcgmi diag`` output parsed,
pure), junit (one JUnit test case a node x check). Statistics come from :mod:`benchstats.fleet`.
"""
