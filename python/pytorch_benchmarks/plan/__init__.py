"""Plans made before anything runs, without torch: the memory plan of a model, batch and layout
(``memory_plan``). The checks (``checks``, ``preflight``: what ``experimenter validate`` asks)
and the run (``run/workload``: the plan beside the measured peak) both stand on it, so neither
points up at the other; it stands only on the spec.
"""
