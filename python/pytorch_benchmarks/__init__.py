"""pytorch_benchmarks: the benchmark program every experiment runs.

It never imports ``dlbs``: it must run inside a container that has only torch. Importing this
package is cheap (no torch import); the heavy modules are imported where they are used.
"""
__version__ = "0.1.0"
