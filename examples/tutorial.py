"""Theano's first tutorial programs, run by tensorir.

    python examples/tutorial.py
"""

import numpy as np
import tensorir
from tensorir import In
from tensorir import tensor as T

# Adding two scalars.
a = T.dscalar("a")
b = T.dscalar("b")
f = tensorir.function([a, b], a + b)
assert f(1.5, 2.5) == 4.0
print("1.5 + 2.5 =", f(1.5, 2.5))

# The logistic function of a matrix, and the same through tanh.
x = T.dmatrix("x")
s = 1 / (1 + T.exp(-x))
s2 = (1 + T.tanh(x / 2)) / 2
logistic = tensorir.function([x], [s, s2])
m = np.array([[0.0, 1.0], [-1.0, -2.0]])
out1, out2 = logistic(m)
np.testing.assert_allclose(out1, 1 / (1 + np.exp(-m)))
np.testing.assert_allclose(out1, out2)
print("logistic:\n", out1)

# Several outputs at once.
a, b = T.dmatrices("a", "b")
diff = a - b
f = tensorir.function([a, b], [diff, abs(diff), diff**2])
print("diff, |diff|, diff**2:", *f([[1, 1], [1, 1]], [[0, 1], [2, 3]]), sep="\n")

# Default values and named inputs.
x, y, w = T.dscalars("x", "y", "w")
z = (x + y) * w
f = tensorir.function([x, In(y, value=1), In(w, value=2, name="w_by_name")], z)
assert f(33) == 68 and f(33, 2) == 70 and f(33, 0, 1) == 33 and f(33, w_by_name=1) == 34
print("defaults: f(33) =", f(33), " f(33, w_by_name=1) =", f(33, w_by_name=1))

# The IR of the last function as built, and the start of the C it was compiled to
# (f.ir("bufferize"), f.ir("lower-to-loops") ... show the stages in between).
print(f.ir("tensor"))
print("\n".join(f.source().splitlines()[:12]), "\n...")
