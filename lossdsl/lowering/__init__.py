"""Lowering: a checked Formula -> a program (planned without TensorFlow: ``program``) -> a TensorFlow function
(``lower``, which imports TensorFlow)."""
