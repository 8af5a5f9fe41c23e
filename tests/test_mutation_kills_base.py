"""The Layer base class (numpynet/core/layers/base.py) as the mutation run (issue 13) found it untested.

Pinned here: every construction error names the layer class and the argument (``name``, ``trainable``, ``seed``,
``activity_regularizer``, and every ``*_initializer`` / ``*_regularizer`` / ``*_constraint`` spec, checked when
the layer is written, not when it is built); a ``softmax(axis=...)`` activation that does not fit the input's rank
is refused when the layer is called or built, naming the layer; a layer built for one shape refuses another when
the graph is written; calling a layer on an array means inference, builds it in the data's float dtype (float32
for integer data; the first input's dtype for a merge layer), takes a nested list, and hands ``forward`` the
caller's arrays without a copy; ``add_weight`` defaults to zeros, accepts zero-size axes, refuses negative, bool
and float sizes by name, casts what an initializer returns to the layer's dtype and asks the initializer for that
dtype; ``shapes_only`` weights are zero-stride views of one zero in the layer's dtype and keep the trainable flags;
regularizer gradients are 2·λ·W written into one scratch array per weight, reused from batch to batch and made
anew when the weight changes dtype, and a regularizer whose ``grad`` takes no ``out=`` gets W alone;
``ScratchBuffer`` keeps arrays up to ``limit`` bytes (inclusive) and no larger; an unbuilt layer is trainable,
unbuilt (``built is False``) with no output shape; an ``input_shape_hint`` class attribute survives ``__init__``;
copies of a fresh unseeded layer draw from independent generators.

Expected values come from textbook formulas written out below (x·W + b, dR/dW = 2·λ·W for λ·Σw²) and expected
errors are full messages, never the code's own output. Layer subclasses, initializers and regularizers are defined
inside the tests: mutmut imports the package once and forks per mutant, so anything done at import time of this
module never sees the mutant.

Survivors judged equivalent — no test through the public API can tell them apart from the original (mutant names
as in the run, ``xǁLayerǁmethod__mutmut_N`` / ``x_function__mutmut_N``):
  * ``xǁLayerǁ__call____mutmut_38`` and ``__mutmut_44`` (``astype(..., copy=None)`` for ``copy=False``): NumPy 2
    reads ``copy=None`` for ``astype`` as "copy only if needed", exactly what ``copy=False`` means there.
  * ``xǁLayerǁadd_weight__mutmut_2`` (default initializer ``"ZEROS"``): registry names are case-insensitive, so
    ``"ZEROS"`` is the same Zeros initializer.
  * ``xǁLayerǁadd_weight__mutmut_25`` (``shapes_only`` view of ``np.zeros(2)`` instead of ``np.zeros(1)``): with
    all strides 0 the view reads only the first element; shape, strides, dtype and values are the same.
  * ``x__resolve__mutmut_4`` (``AssertionError(None)`` for ``AssertionError(arg)``): unreachable — ``_resolve``
    is private and every caller passes an argument name ending in ``_initializer``/``_regularizer``/``_constraint``.
"""

import copy
import re

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.layers import Dense

L = nn.layers


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def raises_exactly(exc_type, message):
    return pytest.raises(exc_type, match="^" + re.escape(message) + "$")


# ============================================================================================ construction errors

@pytest.mark.parametrize("kwargs,message", [
    ({"name": "  "}, "Dense: argument 'name' must be a non-empty string or None, got '  '"),
    ({"name": 5}, "Dense: argument 'name' must be a non-empty string or None, got 5"),
    ({"trainable": "yes"}, "Dense: argument 'trainable' must be True or False, got 'yes' (str)"),
    ({"seed": -1}, "Dense: argument 'seed' must be an integer >= 0 or None, got -1"),
    ({"activity_regularizer": "l2(lambd=-1)"},
     "Dense: argument 'activity_regularizer': L2: argument 'lambd' must be >= 0.0, got -1.0"),
    ({"kernel_initializer": "random_normal(stddev=-1)"},
     "Dense: argument 'kernel_initializer': RandomNormal: argument 'stddev' must be >= 0.0, got -1.0"),
    ({"bias_regularizer": "l1(l1=-1)"},
     "Dense: argument 'bias_regularizer': L1: argument 'l1' must be >= 0.0, got -1.0"),
    ({"kernel_constraint": "max_norm(max_value=-1)"},
     "Dense: argument 'kernel_constraint': MaxNorm: argument 'max_value' must be >= 0.0, got -1.0"),
], ids=lambda v: str(v)[:40])
def test_construction_errors_name_the_layer_class_and_the_argument(kwargs, message):
    with raises_exactly(SpecError, message):
        Dense(3, **kwargs)


def test_a_bad_spec_in_a_user_layer_is_refused_at_construction_with_its_class_name():
    class Scaled(L.Layer):
        def __init__(self, kernel_initializer="ones", kernel_regularizer=None, kernel_constraint=None):
            super().__init__()
            self.kernel_initializer = kernel_initializer      # kept as given; resolved by the base class
            self.kernel_regularizer = kernel_regularizer
            self.kernel_constraint = kernel_constraint

    with raises_exactly(SpecError, "Scaled: argument 'kernel_initializer': RandomUniform: argument 'minval' "
                                   "must be a number, got None (NoneType)"):
        Scaled(kernel_initializer="random_uniform(minval=None)")
    with raises_exactly(SpecError, "Scaled: argument 'kernel_regularizer': L2: argument 'l2' must be >= 0.0, "
                                   "got -2.0"):
        Scaled(kernel_regularizer="l2(l2=-2)")
    with raises_exactly(SpecError, "Scaled: argument 'kernel_constraint': MaxNorm: argument 'max_value' must "
                                   "be >= 0.0, got -1.0"):
        Scaled(kernel_constraint="max_norm(max_value=-1)")
    layer = Scaled(kernel_regularizer="l2(l2=0.5)")            # good specs pass and are kept as written
    assert layer.kernel_regularizer == "l2(l2=0.5)" and layer.kernel_initializer == "ones"


# ============================================================================================ a fresh layer

def test_a_fresh_layer_is_trainable_and_unbuilt():
    class Plain(L.Layer):
        def build(self, input_shape):
            self.add_weight("w", (input_shape[-1],), "ones")
            super().build(input_shape)

        def forward(self, x, training=False):
            return x * self.params["w"]

    layer = Plain()                           # Layer.__init__'s own defaults: trainable, no name
    assert layer.trainable is True and layer.name is None
    assert layer.built is False and layer.input_shape is None and layer.output_shape is None
    layer(np.ones((2, 3)))
    assert layer.built is True and layer.output_shape == (None, 3)
    assert layer.trainable_names == ["w"] and list(layer.grads) == ["w"]

    dense = Dense(2)
    assert dense.built is False and dense.output_shape is None and dense.input_shape is None


def test_an_input_shape_hint_class_attribute_survives_init():
    class FixedInput(L.Layer):
        input_shape_hint = (2,)                   # a layer that always takes samples of shape (2,)

        def forward(self, x, training=False):
            return x + 1.0

    assert FixedInput().input_shape_hint == (2,)
    model = nn.Sequential([FixedInput()])
    assert model.input_shape == (None, 2)


def test_copies_of_a_fresh_unseeded_layer_draw_independent_masks():
    # seed=None means fresh entropy: two copies of an unused unseeded layer must not share one random stream.
    layer = L.Dropout(0.5)
    x = np.ones((1, 2000))
    a, b = copy.deepcopy(layer), copy.deepcopy(layer)
    mask_a = a(x, training=True) != 0
    mask_b = b(x, training=True) != 0
    assert not np.array_equal(mask_a, mask_b)      # equal with probability 2**-2000
    seeded = L.Dropout(0.5, seed=3)                # a seeded layer's copies do share the stream
    c, d = copy.deepcopy(seeded), copy.deepcopy(seeded)
    np.testing.assert_array_equal(c(x, training=True), d(x, training=True))


# ============================================================================================ calling on arrays

def test_calling_a_layer_on_an_array_is_inference():
    x = np.ones((4, 500))
    np.testing.assert_array_equal(L.Dropout(0.5, seed=0)(x), x)       # no unit dropped, no 1/(1-r) scaling


def test_calling_a_layer_on_integer_data_builds_it_in_float32():
    layer = Dense(2, kernel_initializer="ones", bias_initializer="ones")
    y = layer(np.array([[1, 2, 3]]))
    assert layer.dtype == np.float32 and y.dtype == np.float32
    assert all(w.dtype == np.float32 for w in layer.get_weights())
    np.testing.assert_array_equal(y, [[1 + 2 + 3 + 1, 1 + 2 + 3 + 1]])      # x·W + b with W, b all ones


def test_calling_a_layer_on_a_nested_list():
    layer = Dense(2, seed=1)
    y = layer([[1.0, 2.0]])                   # one sample written as a list of lists
    W, b = layer.get_weights()
    np.testing.assert_allclose(y, np.array([[1.0, 2.0]]) @ W.astype(np.float64) + b, rtol=1e-12)


def test_a_merge_layer_takes_the_first_inputs_dtype():
    x32 = np.array([[1.0, 2.0]], dtype=np.float32)
    x64 = np.array([[0.5, 0.25]])
    for first, second in ((x32, x64), (x32, x32.copy())):
        y = L.Add()([first, second])
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, np.float32(first) + np.float32(second))
    y = L.Add()([x64, x32])
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, [[1.5, 2.25]])


def test_forward_gets_the_callers_arrays_without_a_copy():
    class First(L.Layer):
        multi_input = True

        def forward(self, xs, training=False):
            return xs[0]

    class Same(L.Layer):
        def forward(self, x, training=False):
            return x

    a, b = np.ones((2, 3), dtype=np.float32), np.zeros((2, 3), dtype=np.float32)
    assert First()([a, b]) is a
    assert Same()(a) is a
    c = np.ones((2, 3))                       # a float64 input for a float32 layer is converted
    layer = Same()
    layer(a)
    assert layer(c).dtype == np.float32


# ============================================================================================ activation rank

def test_a_softmax_axis_that_does_not_fit_the_input_is_refused_naming_the_layer():
    message = ("softmax: argument 'axis' is 2, but the input of layer {} (Dense) has 2 axes (batch included), "
               "so axis must be in -2..1")
    with raises_exactly(SpecError, message.format("'probs'")):
        Dense(3, activation="softmax(axis=2)", name="probs")(np.ones((2, 3)))
    with raises_exactly(SpecError, message.format("'Dense'")):      # unnamed: the class name stands in
        Dense(3, activation="softmax(axis=2)")(np.ones((2, 3)))
    with raises_exactly(SpecError, message.format("'probs'")):      # build alone checks it too (Keras's build)
        Dense(3, activation="softmax(axis=2)", name="probs").build((None, 3))
    layer = Dense(3, activation="softmax(axis=2)")                  # fits a rank-3 input
    y = layer(np.zeros((1, 2, 3)))
    np.testing.assert_allclose(y.sum(axis=2), 1.0, rtol=1e-6)


# ============================================================================================ symbolic calls

def test_a_built_layer_refuses_another_shape_when_the_graph_is_written():
    layer = Dense(2, name="d")
    layer(np.ones((1, 3)))
    with raises_exactly(ShapeError, "layer 'd' was built for inputs of shape ('batch', 3), got (None, 4)"):
        layer(nn.Input((4,)))
    assert layer(nn.Input((3,))).shape == (None, 2)


def test_a_user_layer_that_marks_itself_built_can_be_called_on_a_tensor():
    class Marked(L.Layer):
        def build(self, input_shape):
            self.built = True                 # Keras style, without Layer.build

        def forward(self, x, training=False):
            return x

    layer = Marked()
    layer.build((None, 3))
    assert layer.built is True and layer.input_shape is None
    assert layer(nn.Input((3,))).shape == (None, 3)


# ============================================================================================ add_weight

def test_add_weight_defaults_to_zeros_and_accepts_zero_size_axes():
    class Holder(L.Layer):
        def build(self, input_shape):
            self.add_weight("w", (2, 3))
            self.add_weight("empty", (0, 3))
            super().build(input_shape)

        def forward(self, x, training=False):
            return x

    layer = Holder()
    layer(np.ones((1, 2), dtype=np.float32))
    w, empty = layer.get_weights()
    np.testing.assert_array_equal(w, np.zeros((2, 3)))
    assert w.dtype == np.float32 and empty.shape == (0, 3)
    assert layer.trainable_names == ["w", "empty"]

    dense = Dense(2, bias_initializer="ones")                 # a Dense layer on samples with no features
    np.testing.assert_array_equal(dense(np.ones((3, 0))), np.ones((3, 2)))   # x·W = empty sum = 0, plus b


@pytest.mark.parametrize("shape,shown", [((2, -1), "(2, -1)"), ((True, 2), "(True, 2)"), ((2.5,), "(2.5,)"),
                                         ((-3,), "(-3,)")])
def test_add_weight_refuses_bad_sizes_naming_layer_and_weight(shape, shown):
    class Odd(L.Layer):
        def build(self, input_shape):
            self.add_weight("w", shape)
            super().build(input_shape)

        def forward(self, x, training=False):
            return x

    with raises_exactly(ShapeError, f"layer 'odd': weight 'w' would have shape {shown}"):
        Odd(name="odd")(np.ones((1, 2)))


def test_add_weight_asks_the_initializer_for_the_layer_dtype_and_casts_its_result():
    class Thirds(nn.initializers.Initializer):
        def __init__(self):
            self.asked = []

        def generate(self, shape, dtype, rng):
            self.asked.append(dtype)
            return np.full(shape, 1.0 / 3.0)          # float64, whatever was asked

    for x, dtype in ((np.ones((1, 2), dtype=np.float32), np.float32), (np.ones((1, 2)), np.float64)):
        init = Thirds()
        layer = Dense(3, kernel_initializer=init)
        layer(x)
        W = layer.get_weights()[0]
        assert init.asked == [np.dtype(dtype)]
        assert W.dtype == dtype
        np.testing.assert_array_equal(W, np.full((2, 3), dtype(1.0) / dtype(3.0)))


def test_shapes_only_weights_are_zero_stride_views_of_one_zero():
    layer = Dense(3)
    layer.shapes_only = True
    layer.build((None, 4))
    W, b = layer.get_weights()
    assert W.shape == (4, 3) and b.shape == (3,)
    assert W.strides == (0, 0) and b.strides == (0,)
    assert W.dtype == np.float32 and b.dtype == np.float32
    np.testing.assert_array_equal(W, np.zeros((4, 3)))
    assert layer.trainable_names == ["W", "b"]

    frozen = Dense(3, trainable=False)
    frozen.shapes_only = True
    frozen.build((None, 4))
    assert frozen.trainable_names == [] and [w.shape for w in frozen.get_weights()] == [(4, 3), (3,)]

    norm = L.BatchNormalization()
    norm.shapes_only = True
    norm.build((None, 5))
    assert norm.trainable_names == ["gamma", "beta"]
    assert list(norm.params) == ["gamma", "beta", "moving_mean", "moving_variance"]

    wide = Dense(2)
    wide.shapes_only = True
    wide.dtype = np.float64
    wide.build((None, 2))
    assert wide.get_weights()[0].dtype == np.float64


def test_add_weight_keeps_non_trainable_weights_out_of_the_gradients():
    norm = L.BatchNormalization()
    norm(np.ones((2, 3)))
    assert norm.trainable_names == ["gamma", "beta"] and sorted(norm.grads) == ["beta", "gamma"]


# ============================================================================================ regularizer gradients

def test_regularizer_gradients_use_one_scratch_array_per_weight_across_batches():
    class Recording(nn.regularizers.RegularizerBase):
        """R(W) = 1.5·Σw², dR/dW = 3·W, written into ``out``; records every ``out`` it was given."""

        def __init__(self):
            self.outs = []

        def loss(self, W):
            return 1.5 * float(np.sum(np.asarray(W, dtype=np.float64) ** 2))

        def grad(self, W, out=None):
            self.outs.append(out)
            return np.multiply(W, 3.0, out=out)

    reg = Recording()
    layer = Dense(3, kernel_regularizer=reg, bias_regularizer=reg, bias_initializer="ones", seed=0)
    x = data((4, 2))
    dy = data((4, 3), seed=1)
    for _ in range(2):
        layer(x)
        layer.backward(dy)
        layer.add_regularization_grads()
        W, b = (p.astype(np.float64) for p in layer.get_weights())
        np.testing.assert_allclose(layer.grads["W"], x.T @ dy + 3.0 * W, rtol=1e-12)   # xᵀ·dy + dR/dW
        np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0) + 3.0 * b, rtol=1e-12)
    w1, b1, w2, b2 = reg.outs
    assert isinstance(w1, np.ndarray) and isinstance(b1, np.ndarray)
    assert w1.shape == (2, 3) and b1.shape == (3,)
    assert w2 is w1 and b2 is b1                    # the same scratch array, batch after batch


def test_a_regularizer_whose_grad_takes_no_out_gets_the_weight_alone():
    class Quartic(nn.regularizers.RegularizerBase):
        """R(W) = Σw⁴, dR/dW = 4·w³."""

        def loss(self, W):
            return float(np.sum(W ** 4))

        def grad(self, W):
            return 4.0 * W ** 3

    layer = Dense(2, kernel_regularizer=Quartic(), use_bias=False, seed=0)
    x = data((3, 2))
    dy = data((3, 2), seed=2)
    layer(x)
    layer.backward(dy)
    layer.add_regularization_grads()
    W = layer.params["W"].astype(np.float64)
    np.testing.assert_allclose(layer.grads["W"], x.T @ dy + 4.0 * W ** 3, rtol=1e-12)


def test_the_regularizer_scratch_follows_the_weights_to_float64():
    lam = 0.05                                       # l2(l2=λ): R = λ·Σw², dR/dW = 2·λ·W
    model = nn.Sequential([Dense(3, kernel_regularizer=f"l2(l2={lam})", use_bias=False, seed=0,
                                 input_shape=(2,))])
    model.compile(loss="mse", optimizer="sgd")
    X, y = data((4, 2)), data((4, 3), seed=1)
    first = model.compute_gradients(X.astype(np.float32), y.astype(np.float32), split=True)
    W32 = model.get_weights()[0]
    assert W32.dtype == np.float32
    np.testing.assert_allclose(first["penalty"][0], 2 * lam * W32.astype(np.float64), rtol=1e-6)
    model.to_dtype(np.float64)
    second = model.compute_gradients(X, y, split=True)
    W64 = model.get_weights()[0]
    assert W64.dtype == np.float64 and second["penalty"][0].dtype == np.float64
    np.testing.assert_allclose(second["penalty"][0], 2 * lam * W64, rtol=1e-14)   # float64 precision


# ============================================================================================ ScratchBuffer

def test_scratch_buffer_keeps_arrays_up_to_its_limit_inclusive():
    buf = L.base.ScratchBuffer()
    buf.limit = 80                                   # bytes
    at_limit = buf.get((10,), np.float64)            # 10 · 8 bytes = 80: kept
    assert at_limit.shape == (10,) and at_limit.dtype == np.float64
    assert buf.get((10,), np.float64) is at_limit
    assert buf.get((10,), np.float32) is not at_limit            # another dtype: a new array
    above = buf.get((11,), np.float64)               # 88 bytes: handed out fresh, not kept
    assert above.shape == (11,)
    again = buf.get((11,), np.float64)
    assert again is not above and buf.array is None
