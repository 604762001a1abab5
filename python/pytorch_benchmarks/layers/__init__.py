"""The layers the model families share (timm's ``timm/layers``): attention over
``scaled_dot_product_attention`` with its key/value cache (:mod:`.attention`), Caffe's local
response normalisation (:mod:`.lrn`) and the multilayer perceptron of the fully connected
models (:mod:`.mlp`).

Registers no model and knows no architecture. May import: torch and the standard library;
never the models, the run, the runtime, the data, the measurements, the output nor ``dlbs``.
"""
