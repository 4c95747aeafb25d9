"""Generates examples/data/cultivars.csv: a small tabular classification set shipped with
the repository so the CSV example runs without downloads. Three 'cultivars', six numeric
measurements with overlapping, correlated Gaussian clusters. Deterministic (seed 7).
Run: python3 examples/data/make_wine_like.py > examples/data/cultivars.csv"""
import math
import random

rng = random.Random(7)
names = ["alcohol", "acidity", "magnesium", "phenols", "color", "hue"]
centres = [
    [13.7, 2.0, 106.0, 2.8, 5.5, 1.06],
    [12.3, 1.9, 94.0, 2.2, 3.1, 1.05],
    [13.1, 3.3, 99.0, 1.7, 7.4, 0.68],
]
spread = [0.5, 0.9, 14.0, 0.5, 1.8, 0.2]
print(",".join(names + ["cultivar"]))
for i in range(600):
    c = i % 3
    shared = rng.gauss(0.0, 1.0)  # correlates the features within a sample
    row = [centres[c][k] + spread[k] * (0.8 * rng.gauss(0.0, 1.0) + 0.6 * shared) for k in range(6)]
    print(",".join(f"{v:.3f}" for v in row) + f",{c}")
