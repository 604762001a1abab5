"""The serving workload (``exp.phase=serve``): a load client for an OpenAI-compatible server.

Owns: arrivals (:mod:`.arrivals`), request lengths and prompts (:mod:`.requests`), the
streaming client (:mod:`.client`), the per-run statistics (:mod:`.summary`), the entry point
the launcher runs (:mod:`.loadgen`), a null server that answers at once (:mod:`.nullserver`)
and a tiny local model for ``transformers serve`` (:mod:`.tinymodel`).

May import: the standard library, ``aiohttp``, ``safeio`` and ``benchstats``. Never torch
(except :mod:`.tinymodel`, which builds the test model), ``pytorch_benchmarks`` nor ``dlbs``.
"""
