"""Layer behaviour that the mutation run (issue 13) left untested in numpynet/core/layers/ activation_layers.py,
reshaping.py, merge.py and input_layer.py.

Pinned here: ``ReLU`` with no cap and slope 1 is the identity (x above 0 and 1·x below, gradient 1 everywhere:
leaky_relu'(0) = s), ``ReLU()`` and ``ReLU(6.0)`` let a NaN through as max(x, 0) and min(max(x, 0), 6) do (the
project's rule for activations, as Keras's relu and relu6), an infinite upstream gradient passes ``ReLU(threshold=t)``
unchanged where the unit passes (dx = dy·1, nothing added), ``Reshape`` refuses a target whose size divides the
sample's without being equal to it (full message, naming the layer and both shapes), ``InputLayer`` passes data and
gradients through as the very same arrays.

Every expected value comes from a textbook formula written out below in float64, from central differences
(``check_layer``), or from a full error message, never from the code's own output.

Survivors judged equivalent — no test can tell them apart from the original (mutant names as in the run,
``xǁClassǁmethod__mutmut_N``):
  * ``forward(…, training=True)`` as the default where the body never reads ``training``: ReLU.forward 1,
    Reshape.forward 1, ZeroPadding2D.forward 1, InputLayer.forward 1, Add/Subtract/Multiply/Average/Concatenate
    .forward 1.
  * Concatenate._axis 5 6 (``axis <= 0`` / ``axis < 1``): axis 0 becomes ndim, out of range like 0, and the error
    message shows the axis as given either way.
  * Concatenate.forward 5 (rank read from xs[1] instead of xs[0]): the ranks were checked equal just before.
  * ReLU.__init__ 67 (``negative_slope >= 0`` for ``> 0`` in ``_leaky``): the two differ only at s = 0, and with
    t = 0, s = 0 and no cap ``_plain`` is true, so the relu branch, tested first, is taken either way.
  * ReLU.__init__ 80 87 (``get("RELU")`` / ``get("RELU6")``): the activation registry looks names up without regard
    to case, so the same relu / relu6 activation comes back.
  * ReLU.backward 5 (``self._function.backward(dy, x, None)``): relu's, relu6's and leaky_relu's backward read x
    only, never the cached output y.
  * ReLU.backward 13 16 25 28 (``dtype=None`` or no dtype in ``np.multiply(dy, mask, dtype=dy.dtype)``): dy times
    a boolean mask has dy's dtype already, for every dtype an array dy can have.
"""

import re

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import ShapeError
from numpynet.gradcheck import check_layer

L = nn.layers


# ============================================================================================ activation_layers.py

def test_relu_with_slope_one_and_no_cap_is_the_identity():
    # Keras's ReLU(negative_slope=s) with t = 0 and no cap is leaky_relu: x for x > 0, s·x otherwise; f' = 1 or s.
    x = np.array([[-4.0, -1.5, -0.25, 0.0, 0.25, 1.5, 4.0, 7.0]])
    layer = L.ReLU(negative_slope=1.0, name="id")
    want = np.where(x > 0.0, x, 1.0 * x)
    np.testing.assert_array_equal(layer(x), want)
    dy = np.linspace(-2.0, 3.0, x.size)[None, :]
    np.testing.assert_array_equal(layer.backward(dy), dy * np.where(x > 0.0, 1.0, 1.0))
    x32 = x.astype(np.float32)
    y32 = L.ReLU(negative_slope=1.0)(x32)
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(y32, want.astype(np.float32))
    report = check_layer(L.ReLU(negative_slope=1.0), np.array([[-2.0, -0.7, 0.3, 1.9], [-0.1, 0.6, -3.0, 2.2]]))
    assert set(report.errors) == {"input"}
    assert all(err < 1e-7 for err in report.errors.values()), report.errors   # NaN fails too
    assert float(report) < 1e-7


@pytest.mark.parametrize("kwargs,cap", [({}, np.inf), ({"max_value": 6.0}, 6.0), ({"max_value": 1.0}, 1.0)],
                         ids=["relu", "relu6", "capped"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_relu_and_relu6_let_nan_through(kwargs, cap, dtype):
    # y = min(max(x, 0), M) with IEEE max/min: a NaN input gives a NaN output (Keras's relu, relu6 and any cap with
    # threshold 0 do the same), so a diverging network shows NaN instead of silently turning it into 0. (A cap other
    # than 6 used to go through where(x > 0, x, 0), which made the NaN a 0.)
    x = np.array([[np.nan, -2.0, 0.0, 3.0, 8.0]], dtype=dtype)
    y = L.ReLU(**kwargs)(x)
    assert y.dtype == dtype
    assert np.isnan(y[0, 0])
    np.testing.assert_array_equal(y[0, 1:], np.minimum(np.maximum(np.array([-2.0, 0.0, 3.0, 8.0]), 0.0), cap))


@pytest.mark.parametrize("max_value", [None, 6.0, 3.0])
def test_thresholded_relu_passes_an_infinite_gradient_unchanged(max_value):
    # dx = dy·[t < x ≤ M] (no slope: nothing is added below t), so where the unit passes dx is dy itself, ±inf included.
    t = 1.0
    x = np.array([[-1.0, 0.5, 0.75, 2.0, 2.5, 1.5]])
    dy = np.array([[1.5, -2.0, 3.0, np.inf, -np.inf, 0.5]])
    layer = L.ReLU(max_value=max_value, threshold=t)
    layer(x)
    dx = layer.backward(dy)
    assert dx.shape == x.shape and dx.dtype == np.float64
    passes = (x > t) & (x <= (np.inf if max_value is None else max_value))
    np.testing.assert_array_equal(passes, [[False, False, False, True, True, True]])
    np.testing.assert_array_equal(dx[passes], dy[passes])           # inf, -inf and 0.5, no NaN
    np.testing.assert_array_equal(dx[~passes], np.zeros(3))


# ============================================================================================ reshaping.py

@pytest.mark.parametrize("target,sample,known", [((2,), (4,), 2), ((2, 3), (12,), 6), ((3,), (3, 3), 3)])
def test_reshape_refuses_a_target_that_only_divides_the_sample_size(target, sample, known):
    # Without -1 the target must hold exactly the sample's values; a divisor is not enough.
    size = int(np.prod(sample))
    message = "^" + re.escape(f"layer 'r' (Reshape): cannot reshape samples of shape {sample} ({size} values) to "
                              f"target_shape {target} ({known} values)") + "$"
    with pytest.raises(ShapeError, match=message):
        L.Reshape(target, name="r").compute_output_shape((None,) + sample)
    with pytest.raises(ShapeError, match=message):
        L.Reshape(target, name="r").forward(np.zeros((2,) + sample))
    with pytest.raises(ShapeError, match=message):
        L.Reshape(target, name="r")(nn.Input(sample))
    # the same target with -1 in it takes any multiple
    free = (-1,) + target[1:]
    rest = int(np.prod(target[1:]))
    assert L.Reshape(free).compute_output_shape((None,) + sample) == (None, size // rest) + target[1:]


# ============================================================================================ input_layer.py

def test_input_layer_passes_data_and_gradients_through_as_the_same_arrays():
    layer = L.InputLayer((3, 2), name="src")
    assert layer.shape == (3, 2) and layer.name == "src"
    assert layer.compute_output_shape((None, 3, 2)) == (None, 3, 2)
    x = np.arange(12.0).reshape(2, 3, 2)
    assert layer.forward(x) is x and layer.forward(x, training=True) is x
    dy = -x
    assert layer.backward(dy) is dy
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(2, 3, 2))      # not written
