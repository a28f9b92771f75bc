"""Lowering: a checked Formula -> a TensorFlow function (imports TensorFlow; only with a model)."""
