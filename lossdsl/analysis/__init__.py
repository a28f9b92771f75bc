"""The analysis of a Formula: references resolved against a model, shapes, stability; check() collects it all."""
