"""Input data for the benchmark: a synthetic batch, or real images (Caffe LMDB, ImageFolder)
decoded and augmented by DataLoader worker processes. Nothing here builds a model."""
