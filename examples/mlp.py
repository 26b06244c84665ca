"""A two-hidden-layer MLP trained by SGD on synthetic data: tensorir.grad, shared weights, updates.

    python examples/mlp.py [epochs]

Three classes of points on interleaved spirals in the plane (not linearly separable), two tanh layers
of 64 units, softmax cross-entropy, minibatches of 100.
"""

import sys

import numpy as np
import tensorir
from tensorir import tensor as T

rng = np.random.default_rng(1)
per_class, classes = 300, 3
r = np.tile(np.linspace(0.05, 1.0, per_class), classes)
theta = np.concatenate([np.linspace(4 * k, 4 * k + 4, per_class) for k in range(classes)])
theta += rng.normal(0, 0.15, theta.shape)
X = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1).astype(np.float32)
labels = np.repeat(np.arange(classes), per_class)
Y = np.eye(classes, dtype=np.float32)[labels]
epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 300


def layer(n_in: int, n_out: int, name: str) -> tuple:
    w = tensorir.shared((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(np.float32), name=f"W{name}")
    return w, tensorir.shared(np.zeros(n_out, np.float32), name=f"b{name}")


params = [*layer(2, 64, "1"), *layer(64, 64, "2"), *layer(64, classes, "3")]
W1, b1, W2, b2, W3, b3 = params

x = T.fmatrix("x")
t = T.fmatrix("t")  # one-hot targets
h1 = T.tanh(T.dot(x, W1) + b1)
h2 = T.tanh(T.dot(h1, W2) + b2)
z = T.dot(h2, W3) + b3
cost = -(t * T.log_softmax(z, axis=1)).sum(axis=1).mean()
grads = tensorir.grad(cost, params)
lr = np.float32(0.5)
train = tensorir.function([x, t], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)])
predict = tensorir.function([x], T.argmax(z, axis=1))

order = np.arange(len(X))
for _ in range(epochs):
    rng.shuffle(order)
    for k in range(0, len(X), 100):
        batch = order[k:k + 100]
        loss = train(X[batch], Y[batch])

accuracy = float((predict(X) == labels).mean())
print(f"final minibatch cost {float(loss):.4f}")
print(f"training accuracy {accuracy:.3f}")
