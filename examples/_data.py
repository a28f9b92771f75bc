"""Small synthetic data sets the examples train on (built here, nothing is downloaded)."""

import numpy as np


def regression(samples: int = 1024, features: int = 8, outputs: int = 1, seed: int = 0):
    """A noisy linear regression problem: x, y as float32 arrays."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype("float32")
    w = rng.normal(size=(features, outputs)).astype("float32")
    y = x @ w + 0.1 * rng.normal(size=(samples, outputs)).astype("float32")
    return x, y.astype("float32")
