"""Logistic regression trained by SGD, as in Theano's tutorial: tensorir.grad, shared weights, updates.

    python examples/logistic_regression.py [training_steps]

400 random examples of 784 features with random labels (linearly separable: there are more features than
examples), 10,000 steps of gradient descent on the mean cross-entropy plus an L2 penalty.
"""

import sys

import numpy as np
import tensorir
from tensorir import tensor as T

rng = np.random.default_rng(0)
N, feats = 400, 784
D = (rng.standard_normal((N, feats)), rng.integers(0, 2, N))
training_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000

x = T.dmatrix("x")
y = T.dvector("y")
# Theano's tutorial starts from rng.randn(feats) and relies on its `stabilize` rewrites for log(1 - p_1)
# where p_1 rounds to 1; tensorir has no stabilize pass yet, so the weights start small.
w = tensorir.shared(0.01 * rng.standard_normal(feats), name="w")
b = tensorir.shared(0.0, name="b")

p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))  # probability that the target is 1
prediction = p_1 > 0.5
xent = -y * T.log(p_1) - (1 - y) * T.log(1 - p_1)  # cross-entropy of each example
cost = xent.mean() + 0.01 * (w**2).sum()  # the cost to minimize
gw, gb = tensorir.grad(cost, [w, b])

train = tensorir.function([x, y], [prediction, xent], updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
predict = tensorir.function([x], prediction)

for _ in range(training_steps):
    pred, err = train(D[0], D[1])

accuracy = float((predict(D[0]) == D[1]).mean())
print(f"final cost {float(err.mean() + 0.01 * (w.get_value() ** 2).sum()):.4f}")
print(f"training accuracy {accuracy:.3f}")
