"""Layer behaviour that the mutation run (issue 13) found untested, in numpynet/core/layers/ noise.py,
normalization.py, merge.py, reshaping.py, activation_layers.py, input_layer.py and base.py.

Pinned here: every error message names its class and argument; ``name=`` reaches every noise layer; the noise
layers keep float32 (and float16) data in their own dtype, draw one value per unit, are the identity — the input
itself, no copy and no draw — at rate/stddev 0 and when ``forward`` is called without ``training``; Keras's
inclusive keep test U ≥ r; AlphaDropout's noise_shape; the symbolic input's name, layer and shapes; a layer
subclass written in a test accepts ``input_shape=``; ``register`` names and aliases; pickles carry weights and fresh
scratch space only.

Every expected value comes from a textbook formula written out below in float64, or from a generator stub whose
draws are known (``set_rng`` is the public way to hand a layer its generator), never from the code's own output.
Classes are defined and registered inside the tests: mutmut imports the package once and forks per mutant, so
anything done at import time never sees the mutant.

Survivors judged equivalent — no test can tell them apart from the original (mutant names as in the run,
``xǁClassǁmethod__mutmut_N`` / ``x_function__mutmut_N``):
  * ``forward(…, training=True)`` as the default where the body never reads ``training``:
    InputLayer.forward 1, Layer.forward 1 (raises NotImplementedError either way).
  * the same unused ``training=True`` default in Add/Subtract/Multiply/Average/Concatenate.forward 1.
  * Concatenate._axis 5 6 (``axis <= 0`` / ``axis < 1``): axis 0 becomes ndim, out of range like 0, and the error
    message shows the axis as given either way.
  * Concatenate.forward 5 (rank read from xs[1] instead of xs[0]): the ranks were checked equal just before.
"""

import pickle

import numpy as np
import pytest

import numpynet as nn
from numpynet.errors import ShapeError, SpecError
from numpynet.layers import AlphaDropout, Dense, Dropout, GaussianDropout, GaussianNoise

L = nn.layers
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class ConstantDraws:
    """A generator stub: every uniform draw is ``u`` and every normal draw ``z``, in the dtype asked for."""

    def __init__(self, u=0.5, z=1.0):
        self.u, self.z = u, z

    def random(self, shape=None, dtype=np.float64):
        return np.full(shape, self.u, dtype=dtype)

    def standard_normal(self, shape=None, dtype=np.float64):
        return np.full(shape, self.z, dtype=dtype)


def alpha_coefficients(rate):
    """Keras's AlphaDropout affine correction, from α' = −λ·α: a = ((1 − r)(1 + r·α'²))^(−½), b = −a·α'·r."""
    alpha_p = -SELU_SCALE * SELU_ALPHA
    a = 1.0 / np.sqrt((1.0 - rate) * (1.0 + rate * alpha_p ** 2))
    return a, -a * alpha_p * rate, alpha_p


# ============================================================================================ noise.py

@pytest.mark.parametrize("make", [lambda **kw: Dropout(0.3, **kw), lambda **kw: AlphaDropout(0.3, **kw),
                                  lambda **kw: GaussianNoise(0.3, **kw), lambda **kw: GaussianDropout(0.3, **kw)])
def test_noise_layers_keep_their_name_and_are_the_identity_without_training(make):
    layer = make(name="noisy")
    assert layer.name == "noisy" and layer.get_config()["name"] == "noisy"
    assert make(name="noisy", seed=1) == make(name="noisy", seed=1) != make(name="other", seed=1)
    x = data((4, 3))
    layer(x)                                      # builds it; inference
    assert layer.forward(x) is x                  # forward's default is inference
    assert layer.backward(x) is x


@pytest.mark.parametrize("layer", [Dropout(0.0), AlphaDropout(0.0), GaussianNoise(0.0), GaussianDropout(0.0)],
                         ids=str)
def test_zero_rate_is_the_input_itself_while_training_and_draws_nothing(layer):
    class NoDraws:
        def random(self, *args, **kwargs):
            raise AssertionError("a rate-0 layer drew random numbers")

        standard_normal = random

    layer.set_rng(NoDraws())
    x = data((5, 3))
    assert layer(x, training=True) is x
    dy = data((5, 3), seed=1)
    assert layer.backward(dy) is dy


def test_gaussian_noise_adds_stddev_times_the_normal_draw():
    x = data((3, 4))
    for stddev in (1.0, 0.5, 2.0):
        layer = GaussianNoise(stddev)
        layer.set_rng(ConstantDraws(z=1.0))
        np.testing.assert_allclose(layer(x, training=True), x + stddev, rtol=0, atol=1e-15)
        layer.set_rng(ConstantDraws(z=-0.5))
        np.testing.assert_allclose(layer(x, training=True), x - 0.5 * stddev, rtol=0, atol=1e-15)
        assert np.array_equal(layer.backward(x), x)


def test_gaussian_dropout_multiplies_by_one_plus_sqrt_rate_ratio_times_the_draw():
    x = data((3, 4))
    rate = 0.2
    layer = GaussianDropout(rate)
    layer.set_rng(ConstantDraws(z=1.5))
    factor = 1.0 + np.sqrt(rate / (1.0 - rate)) * 1.5
    np.testing.assert_allclose(layer(x, training=True), x * factor, rtol=1e-15)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), np.full_like(x, factor), rtol=1e-15)


@pytest.mark.parametrize("cls", [GaussianNoise, GaussianDropout, Dropout, AlphaDropout])
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_noise_keeps_the_input_dtype_and_draws_one_value_per_unit(cls, dtype):
    x = np.ones((40, 30), dtype=dtype)
    layer = cls(0.4, seed=3)
    y = layer(x, training=True)
    if dtype is np.float32:
        assert y.dtype == np.float32
        assert layer.backward(np.ones_like(x)).dtype == np.float32
    assert y.shape == x.shape
    assert len(np.unique(y)) > 1                    # not one draw shared by the whole batch


def test_dropout_masks_come_from_the_seeded_float32_uniform_stream():
    """``uniform`` draws in the data's dtype (float32 stays float32), so a seed fixes the mask exactly."""
    x = data((30, 20), dtype=np.float32) + 5.0       # never 0: a zero output is a dropped unit
    rate = 0.4
    for cls in (Dropout, AlphaDropout):
        y = cls(rate, seed=9)(x, training=True)
        keep = np.random.default_rng(9).random(x.shape, dtype=np.float32) >= rate
        if cls is Dropout:
            assert np.array_equal(y != 0.0, keep)
        else:
            a, b, alpha_p = alpha_coefficients(rate)
            assert np.array_equal(~np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-5), keep)


@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_alpha_dropout_keeps_a_unit_whose_draw_equals_the_rate(rate):
    """Keras's keep test is U ≥ r (greater_equal): a draw exactly r keeps the unit, y = a·x + b."""
    x = data((4, 5))
    layer = AlphaDropout(rate)
    layer.set_rng(ConstantDraws(u=rate))
    a, b, _ = alpha_coefficients(rate)
    np.testing.assert_allclose(layer(x, training=True), a * x + b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.backward(np.ones_like(x)), np.full_like(x, a), rtol=1e-12)
    layer.set_rng(ConstantDraws(u=np.nextafter(rate, 0.0)))          # just below r: every unit dropped
    a, b, alpha_p = alpha_coefficients(rate)
    np.testing.assert_allclose(layer(x, training=True), np.full_like(x, a * alpha_p + b), rtol=1e-12)
    plain = Dropout(rate)                                            # Keras's Dropout: the same U ≥ r
    plain.set_rng(ConstantDraws(u=rate))
    np.testing.assert_allclose(plain(x, training=True), x / (1.0 - rate), rtol=1e-15)
    plain.set_rng(ConstantDraws(u=np.nextafter(rate, 0.0)))
    assert np.array_equal(plain(x, training=True), np.zeros_like(x))


def test_alpha_dropout_noise_shape_drops_whole_rows():
    rate = 0.5
    x = data((40, 6)) + 10.0                         # a·x + b never equals the dropped value a·α' + b
    layer = AlphaDropout(rate, noise_shape=(None, 1), seed=4, name="ad")
    assert layer.noise_shape == (None, 1) and layer.get_config()["noise_shape"] == (None, 1)
    assert str(layer) == str(L.get(str(layer)))
    a, b, alpha_p = alpha_coefficients(rate)
    dropped = np.isclose(layer(x, training=True), a * alpha_p + b, rtol=0, atol=1e-9)
    assert np.array_equal(dropped, np.broadcast_to(dropped[:, :1], dropped.shape))
    assert 0 < dropped.mean() < 1
    with pytest.raises(ShapeError, match=r"^layer 'ad': noise_shape \(None, 2\) has 2 axes but the input has 3 "
                                         r"\(shape \(2, 3, 4\)\)$"):
        AlphaDropout(0.5, noise_shape=(None, 2), name="ad").forward(np.ones((2, 3, 4)), training=True)
    with pytest.raises(ShapeError, match=r"layer 'ad': noise_shape \(None, 2\) does not broadcast"):
        AlphaDropout(0.5, noise_shape=(None, 2), name="ad").forward(np.ones((2, 3)), training=True)


@pytest.mark.parametrize("make,match", [
    (lambda: Dropout(1.0), r"^Dropout: argument 'rate' must be in \[0, 1\)"),
    (lambda: Dropout(1.5), r"^Dropout: argument 'rate' must be <= 1"),
    (lambda: Dropout(0.5, noise_shape=[None, 1.5]), r"^Dropout: argument 'noise_shape' must be None or a tuple"),
    (lambda: AlphaDropout(1.0), r"^AlphaDropout: argument 'rate' must be in \[0, 1\)"),
    (lambda: AlphaDropout(-0.5), r"^AlphaDropout: argument 'rate' must be >= 0"),
    (lambda: AlphaDropout(0.5, noise_shape=(None, 0)), r"^AlphaDropout: argument 'noise_shape' must be None or"),
    (lambda: AlphaDropout(0.5, noise_shape="x"), r"^AlphaDropout: argument 'noise_shape'"),
    (lambda: GaussianDropout(1.0), r"^GaussianDropout: argument 'rate' must be in \[0, 1\)"),
    (lambda: GaussianDropout(2.0), r"^GaussianDropout: argument 'rate' must be <= 1"),
    (lambda: GaussianNoise(-0.1), r"^GaussianNoise: argument 'stddev' must be >= 0"),
    (lambda: GaussianNoise("big"), r"^GaussianNoise: argument 'stddev' must be a number"),
])
def test_noise_errors_name_the_class_and_the_argument(make, match):
    with pytest.raises(SpecError, match=match):
        make()


# ============================================================================================ input_layer.py

def test_input_is_a_built_input_layer_with_its_own_node_and_name():
    t = nn.Input((3, 4))
    layer = t.node.layer
    assert isinstance(layer, L.InputLayer) and layer.shape == (3, 4)
    assert layer.built is True
    assert layer.input_shape == layer.output_shape == t.shape == (None, 3, 4)
    assert layer._inbound_nodes == [t.node] and t.node.output is t and t.node.is_input
    assert t.name == "input" and "'input'" in repr(t)
    named = nn.Input(5, name="pixels")
    assert named.name == "pixels" and named.shape == (None, 5)
    assert L.InputLayer((3, 4)).compute_output_shape((None, 3, 4)) == (None, 3, 4)
    assert L.InputLayer(7).compute_output_shape((None, 7)) == (None, 7)


def test_an_unused_input_is_named_in_the_error():
    a, b = nn.Input((3,)), nn.Input((3,), name="spare")
    with pytest.raises(SpecError, match=r"input 'spare' \(None, 3\) is not connected"):
        nn.Model(inputs=[a, b], outputs=Dense(2)(a))
    other = nn.Input((3,))
    with pytest.raises(SpecError, match=r"depend on input 'input' \(None, 3\), which is not in inputs"):
        nn.Model(inputs=a, outputs=L.Add()([Dense(3)(a), other]))


@pytest.mark.parametrize("shape", [0, (), (3, 0), "3", (2.5,)])
def test_input_shape_errors_name_input_and_shape(shape):
    with pytest.raises(SpecError, match=r"^Input: argument 'shape' must be a non-empty tuple"):
        L.InputLayer(shape)
    with pytest.raises(SpecError, match=r"^Input: argument 'shape'"):
        nn.Input(shape)


# ============================================================================================ base.py

def test_a_layer_subclass_defined_later_accepts_input_shape():
    class Scale(L.Layer):
        def __init__(self, factor=2.0, name=None):
            super().__init__(name=name)
            self.factor = factor

        def forward(self, x, training=False):
            return x * self.factor

        def backward(self, dy):
            return dy * self.factor

    layer = Scale(3.0, input_shape=(4,))
    assert layer.factor == 3.0 and layer.input_shape_hint == (4,)
    assert Scale().input_shape_hint is None and Scale().factor == 2.0
    assert layer.get_config() == {"factor": 3.0, "name": None}
    model = nn.Sequential([Scale(0.5, input_shape=(2,))])
    assert model.input_shape == (None, 2)
    np.testing.assert_array_equal(model.predict(np.array([[2.0, 4.0]])), [[1.0, 2.0]])
    with pytest.raises(SpecError, match=r"Scale: argument 'input_shape' must be a non-empty tuple"):
        Scale(input_shape=(0,))


def test_register_makes_a_user_layer_known_by_name_and_aliases():
    @L.register("mutation_kills_double", "mk_double_alias")
    class Double(L.Layer):
        def forward(self, x, training=False):
            return 2 * x

        def backward(self, dy):
            return 2 * dy

    assert Double.spec_name == "mutation_kills_double"
    for name in ("mutation_kills_double", "MK_DOUBLE_ALIAS"):
        assert type(L.get(name)) is Double
    assert L.base.layer_to_json(Double())["name"] == "mutation_kills_double"


def test_set_weights_errors_say_what_was_expected():
    layer = Dense(2, name="d")
    layer(np.ones((1, 3)))
    with pytest.raises(ShapeError, match=r"^layer 'd' has 2 weight arrays, got 1$"):
        layer.set_weights([np.zeros((3, 2))])
    with pytest.raises(ShapeError, match=r"^layer 'd' weight 'W': expected shape \(3, 2\), got \(2, 3\)$"):
        layer.set_weights([np.zeros((2, 3)), np.zeros(2)])


def test_pickled_layers_carry_weights_but_no_scratch_space():
    layer = Dense(3, kernel_regularizer="l2(l2=0.5)")
    x = data((4, 2))
    layer(x)
    layer.backward(np.ones((4, 3)))
    before = len(pickle.dumps(layer))
    layer.add_regularization_grads()                 # fills a W-sized scratch array
    assert len(pickle.dumps(layer)) == before        # which does not travel
    copy = pickle.loads(pickle.dumps(layer))
    copy(x)
    copy.backward(np.ones((4, 3)))
    copy.add_regularization_grads()                  # the copy makes its own scratch space
    W = layer.params["W"].astype(np.float64)
    expected = x.T @ np.ones((4, 3)) + 2 * 0.5 * W   # dL/dW + d(0.5·ΣW²)/dW
    np.testing.assert_allclose(copy.grads["W"], expected, rtol=1e-5)

    conv = L.Conv2D(2, 3, padding="same")
    img = data((2, 5, 5, 1), dtype=np.float32)
    y = conv(img)
    again = pickle.loads(pickle.dumps(conv))
    np.testing.assert_array_equal(again(img), y)
    np.testing.assert_array_equal(again.backward(np.ones_like(y)), conv.backward(np.ones_like(y)))


# ============================================================================================ reshaping.py

@pytest.mark.parametrize("padding,pads,shown", [
    (2, ((2, 2), (2, 2)), (2, 2)),
    ((1, 3), ((1, 1), (3, 3)), (1, 3)),
    ([0, 2], ((0, 0), (2, 2)), (0, 2)),
    (((1, 2), (3, 0)), ((1, 2), (3, 0)), ((1, 2), (3, 0))),
    (((2, 2), (1, 1)), ((2, 2), (1, 1)), (2, 1)),             # symmetric pairs shown in the short form
    (((1, 1), (0, 2)), ((1, 1), (0, 2)), ((1, 1), (0, 2))),   # one symmetric side is not enough
    (((0, 2), (1, 1)), ((0, 2), (1, 1)), ((0, 2), (1, 1))),
])
def test_zero_padding_forms_shapes_and_values(padding, pads, shown):
    layer = L.ZeroPadding2D(padding, name="pad")
    assert layer.pads == pads and layer.padding == shown and layer.name == "pad"
    assert L.get(str(layer)) == layer
    (top, bottom), (left, right) = pads
    x = data((2, 3, 4, 2))
    y = layer(x)
    expected = np.zeros((2, 3 + top + bottom, 4 + left + right, 2))
    expected[:, top:top + 3, left:left + 4] = x
    np.testing.assert_array_equal(y, expected)
    assert layer.output_shape == (None,) + expected.shape[1:]
    assert layer.compute_output_shape((None, None, 4, 2)) == (None, None, 4 + left + right, 2)
    assert layer.compute_output_shape((None, 3, None, 2)) == (None, 3 + top + bottom, None, 2)
    dy = data(y.shape, seed=1)
    np.testing.assert_array_equal(layer.backward(dy), dy[:, top:top + 3, left:left + 4])


@pytest.mark.parametrize("padding", [-1, (1, -1), ((0, 1), (-2, 0)), (1, 2, 3), ((1, 2, 3), (1, 2)), "1", 1.5,
                                     True, (1, True), ((1, 2), (3,)), ((1, 2), 3)])
def test_zero_padding_bad_arguments(padding):
    with pytest.raises(SpecError, match=r"^ZeroPadding2D: argument 'padding' must (be an integer|not be negative)"):
        L.ZeroPadding2D(padding)


def test_zero_padding_needs_images():
    layer = L.ZeroPadding2D(1, name="pad")
    with pytest.raises(ShapeError, match=r"^layer 'pad' \(ZeroPadding2D\) needs 4-D NHWC input .*got input shape "
                                         r"\(None, 5, 5\)"):
        layer.compute_output_shape((None, 5, 5))
    with pytest.raises(ShapeError, match=r"^layer 'pad' \(ZeroPadding2D\) needs 4-D NHWC input"):
        layer.forward(np.ones((2, 5, 5)))
    with pytest.raises(ShapeError, match=r"needs 4-D NHWC"):
        layer.compute_output_shape((None, 5, 5, 1, 1))


@pytest.mark.parametrize("target,sample,resolved", [
    ((6,), (2, 3), (6,)), (6, (2, 3), (6,)), ((-1,), (2, 3), (6,)), ((3, -1), (2, 3), (3, 2)),
    ([-1, 2, 1], (4, 3), (6, 2, 1)), ((1, 6), (6,), (1, 6)),
])
def test_reshape_targets(target, sample, resolved):
    layer = L.Reshape(target, name="r")
    x = data((2,) + sample)
    y = layer(x)
    assert y.shape == (2,) + resolved and layer.output_shape == (None,) + resolved
    np.testing.assert_array_equal(y.ravel(), x.ravel())
    np.testing.assert_array_equal(layer.backward(y), x)
    unknown = layer.compute_output_shape((None, None) + sample[1:])
    assert unknown == (None,) + tuple(None if t == -1 else t for t in layer.target_shape)
    assert L.get(str(layer)) == layer


@pytest.mark.parametrize("target", [(), (0,), (2, 0), (-1, -1), (-2, 3), "6", (2.0,), (True,), None])
def test_reshape_bad_targets(target):
    with pytest.raises(SpecError, match=r"^Reshape: argument 'target_shape' (must be a tuple|takes positive sizes)"):
        L.Reshape(target)


def test_reshape_size_errors_name_layer_and_both_shapes():
    with pytest.raises(ShapeError, match=r"^layer 'r' \(Reshape\): cannot reshape samples of shape \(4, 6\) \(24 "
                                         r"values\) to target_shape \(5, 5\) \(25 values\)$"):
        L.Reshape((5, 5), name="r").compute_output_shape((None, 4, 6))
    with pytest.raises(ShapeError, match=r"\(7 values\) to target_shape \(-1, 2\) \(a multiple of 2 values\)$"):
        L.Reshape((-1, 2), name="r").compute_output_shape((None, 7))
    assert L.Reshape((-1, 2)).compute_output_shape((None, 8)) == (None, 4, 2)


# ============================================================================================ merge.py

def three(shape=(2, 3), seed=0):
    return [data(shape, seed=seed + i) for i in range(3)]


def test_merge_values_and_gradients_for_three_inputs():
    a, b, c = three()
    dy = data((2, 3), seed=9)
    add = L.Add(name="sum")
    assert add.name == "sum"
    np.testing.assert_allclose(add([a, b, c]), a + b + c, rtol=1e-15)
    assert all(np.array_equal(g, dy) for g in add.backward(dy)) and len(add.backward(dy)) == 3
    np.testing.assert_allclose(L.Average()([a, b, c]), (a + b + c) / 3.0, rtol=1e-14)
    avg = L.Average()
    avg([a, b])
    grads = avg.backward(dy)
    assert len(grads) == 2 and all(np.allclose(g, dy / 2.0, rtol=1e-15) for g in grads)
    mul = L.Multiply()
    np.testing.assert_allclose(mul([a, b, c]), a * b * c, rtol=1e-14)
    for got, want in zip(mul.backward(dy), (dy * b * c, dy * a * c, dy * a * b)):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    sub = L.Subtract()
    np.testing.assert_allclose(sub([a, b]), a - b, rtol=1e-15)
    g0, g1 = sub.backward(dy)
    assert np.array_equal(g0, dy) and np.array_equal(g1, -dy)
    for inputs in ([a, b], [a, b, c]):               # the inputs are never written
        before = [x.copy() for x in inputs]
        for layer in (L.Add(), L.Average(), L.Multiply()):
            layer(inputs)
        assert all(np.array_equal(x, y) for x, y in zip(inputs, before))


def test_merge_shapes_with_unknown_sizes_and_names_in_errors():
    a, b = nn.Input((None, 3)), nn.Input((4, 3))
    assert L.Add()([a, b]).shape == (None, None, 3)
    assert L.Add().compute_output_shape([(None, 4, 3), (None, None, 3)]) == (None, 4, 3)
    with pytest.raises(ShapeError, match=r"^layer 'm' \(Multiply\) needs inputs of the same shape, got "
                                         r"\(batch, 4, 3\), \(batch, 4, 2\)$"):
        L.Multiply(name="m").build([(None, 4, 3), (None, 4, 2)])
    with pytest.raises(ShapeError, match=r"^layer 'm' \(Multiply\) needs inputs of the same shape, got "
                                         r"\(batch, 4\), \(batch, 4\), \(batch, 4, 1\)$"):
        L.Multiply(name="m").check_input_shape([(None, 4), (None, 4), (None, 4, 1)])
    with pytest.raises(ShapeError, match=r"needs inputs of the same shape"):
        L.Add().check_input_shape([(None, 4), (None, 4), (None, 5)])
    with pytest.raises(ShapeError, match=r"^layer 's' \(Subtract\) takes exactly 2 inputs, got 3$"):
        L.Subtract(name="s")(three())
    with pytest.raises(ShapeError, match=r"^layer 'a' \(Average\) takes at least 2 inputs, got 1$"):
        L.Average(name="a").check_input_shape([(None, 3)])
    with pytest.raises(ShapeError, match=r"^layer 'a' \(Add\) must be called on a list of tensors, e.g. "
                                         r"Add\(\)\(\[a, b\]\)$"):
        L.Add(name="a").check_input_shape((None, 3))
    with pytest.raises(ShapeError, match=r"^layer 'a' \(Add\) must be called on a list of tensors"):
        L.Add(name="a").check_input_shape([(None, 3), [None, 3]])
    with pytest.raises(ShapeError, match=r"^layer 'a' \(Add\) must be given a list of arrays$"):
        L.Add(name="a").forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"^layer 'a' \(Add\): inputs have different batch sizes \[2, 3\]$"):
        L.Add(name="a").forward([np.ones((3, 4)), np.ones((2, 4))])
    layer = L.Add()
    layer.build([(None, 3), (None, 3)])
    assert layer.built is True and layer.input_shape == [(None, 3), (None, 3)] and layer.output_shape == (None, 3)


@pytest.mark.parametrize("axis,rank,joined", [(-1, 3, 2), (1, 3, 1), (2, 3, 2), (-2, 3, 1), (1, 2, 1), (-1, 2, 1)])
def test_concatenate_axes(axis, rank, joined):
    sizes = (2, 1, 3)
    shapes = []
    for k in sizes:
        s = [2, 4, 5][:rank]
        s[joined] = k
        shapes.append(tuple(s))
    xs = [data(s, seed=i) for i, s in enumerate(shapes)]
    layer = L.Concatenate(axis=axis, name="cat")
    assert layer.axis == axis and L.get(str(layer)) == layer
    y = layer(xs)
    np.testing.assert_array_equal(y, np.concatenate(xs, axis=joined))
    assert layer.output_shape == (None,) + y.shape[1:]
    dy = data(y.shape, seed=5)
    for g, x, lo in zip(layer.backward(dy), xs, (0, 2, 3)):
        np.testing.assert_array_equal(g, np.take(dy, range(lo, lo + x.shape[joined]), axis=joined))
    unknown = [(None,) + s[1:] for s in shapes]
    unknown[1] = unknown[1][:joined] + (None,) + unknown[1][joined + 1:]
    assert layer.compute_output_shape(unknown)[joined] is None


def test_concatenate_errors():
    with pytest.raises(SpecError, match=r"^Concatenate: argument 'axis' must be an integer, got True$"):
        L.Concatenate(axis=True)
    with pytest.raises(SpecError, match=r"^Concatenate: argument 'axis' must be an integer, got 1.0$"):
        L.Concatenate(axis=1.0)
    assert L.Concatenate(axis=np.int64(2)).axis == 2
    for axis in (0, 3, -4):
        with pytest.raises(ShapeError, match=rf"^layer 'c' \(Concatenate\): axis {axis} is out of range for inputs "
                                             r"of rank 3 \(axis 0, the batch, cannot be joined\)$"):
            L.Concatenate(axis=axis, name="c").check_input_shape([(None, 2, 3), (None, 2, 3)])
    with pytest.raises(ShapeError, match=r"^layer 'c' \(Concatenate\) needs inputs of the same rank, got "
                                         r"\(batch, 2, 3\), \(batch, 2\)$"):
        L.Concatenate(name="c").check_input_shape([(None, 2, 3), (None, 2)])
    with pytest.raises(ShapeError, match=r"^layer 'c' \(Concatenate\) along axis -1: the other axes must match, got "
                                         r"\(batch, 2, 3\), \(batch, 2, 3\), \(batch, 4, 3\)$"):
        L.Concatenate(name="c").check_input_shape([(None, 2, 3), (None, 2, 3), (None, 4, 3)])
    L.Concatenate().check_input_shape([(None, None, 3), (None, 4, 5), (7, 4, 1)])   # None and batch match anything
    # the other axes come from the first input, as Keras's Concatenate.compute_output_shape
    assert L.Concatenate().compute_output_shape([(None, None, 3), (None, 4, 2)]) == (None, None, 5)
    assert L.Concatenate(axis=1).compute_output_shape([(None, 2, None), (None, 3, 5)]) == (None, 5, None)


# ============================================================================================ activation_layers.py

def ref_relu(x, max_value, slope, threshold):
    """Keras's ReLU layer: min(x, M) above t, 0 at t, s·(x − t) below."""
    above = x if max_value is None else np.minimum(x, max_value)
    return np.where(x > threshold, above, np.where(x < threshold, slope * (x - threshold), 0.0))


def ref_relu_grad(x, max_value, slope, threshold):
    if threshold == 0.0 and slope == 0.0 and max_value == 6.0:
        return ((x > 0) & (x < 6)).astype(float)                          # relu6's kernel
    if threshold == 0.0 and slope > 0.0 and max_value is None:
        return np.where(x > 0, 1.0, slope)                                # leaky_relu: s at 0
    if max_value is None:
        passes = x > threshold
    elif threshold == 0.0 and max_value == 6.0:                          # Keras uses relu6 whenever t = 0, M = 6
        passes = (x > 0) & (x < 6)
    else:
        passes = (x > threshold) & (x <= max_value)
    return passes + slope * (x < threshold)


RELU_CASES = [(None, 0.0, 0.0), (6.0, 0.0, 0.0), (None, 0.1, 0.0), (3.0, 0.0, 0.0), (6.0, 0.2, 0.0),
              (None, 0.0, 1.0), (None, 0.3, 1.0), (6.0, 0.5, 1.0), (2.0, 0.25, 1.0), (7.0, 0.0, 0.0), (0.0, 0.0, 0.0)]


@pytest.mark.parametrize("max_value,slope,threshold", RELU_CASES)
def test_relu_layer_values_and_gradients(max_value, slope, threshold):
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0, 6.0, 6.5, 7.0, 8.0])[None, :]
    layer = L.ReLU(max_value=max_value, negative_slope=slope, threshold=threshold, name="r")
    assert (layer.max_value, layer.negative_slope, layer.threshold, layer.name) == (max_value, slope, threshold, "r")
    assert L.get(str(layer)) == layer
    np.testing.assert_allclose(layer(x), ref_relu(x, max_value, slope, threshold), rtol=1e-15, atol=0)
    dy = np.linspace(0.5, 2.0, x.size)[None, :]
    np.testing.assert_allclose(layer.backward(dy), dy * ref_relu_grad(x, max_value, slope, threshold), rtol=1e-15)
    x32, dy32 = x.astype(np.float32), dy.astype(np.float32)
    layer32 = L.ReLU(max_value=max_value, negative_slope=slope, threshold=threshold)
    y32 = layer32(x32)
    assert y32.dtype == np.float32 and layer32.backward(dy32).dtype == np.float32
    np.testing.assert_allclose(y32, ref_relu(x, max_value, slope, threshold), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kwargs,match", [
    ({"max_value": -1.0}, r"^ReLU: argument 'max_value' must be >= 0"),
    ({"max_value": "6"}, r"^ReLU: argument 'max_value' must be a number"),
    ({"negative_slope": -0.1}, r"^ReLU: argument 'negative_slope' must be >= 0"),
    ({"negative_slope": None}, r"^ReLU: argument 'negative_slope' must be a number"),
    ({"threshold": -1.0}, r"^ReLU: argument 'threshold' must be >= 0"),
    ({"threshold": None}, r"^ReLU: argument 'threshold' must be a number"),
])
def test_relu_errors_name_the_argument(kwargs, match):
    with pytest.raises(SpecError, match=match):
        L.ReLU(**kwargs)


def test_relu_defaults_and_activity_regularizer():
    layer = L.ReLU()
    assert (layer.max_value, layer.negative_slope, layer.threshold) == (None, 0.0, 0.0)
    assert L.ReLU(max_value=None).max_value is None
    reg = L.ReLU(activity_regularizer="l2(l2=0.5)").activity_regularizer
    assert reg is not None and reg == nn.regularizers.get("l2(l2=0.5)")


# ============================================================================================ normalization.py

def ref_batchnorm(x, axis, gamma, beta, eps, mean=None, var=None):
    """y = γ·(x − μ)/√(σ² + ε) + β per channel of ``axis``; μ, σ² (biased) over every other axis unless given."""
    axes = tuple(a for a in range(x.ndim) if a != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = -1
    if mean is None:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, mean, var


BN_SHAPES = [((6, 4), -1), ((5, 3, 4, 2), -1), ((5, 3, 4, 2), 1), ((5, 3, 4, 2), -3), ((4, 3, 5), 2), ((4, 3, 5), 1)]


@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("shape,axis", BN_SHAPES)
def test_batchnorm_training_inference_and_moving_statistics(shape, axis, center, scale):
    c = shape[axis]
    layer = L.BatchNormalization(axis=axis, momentum=0.8, epsilon=0.01, center=center, scale=scale, name="bn")
    layer.dtype = np.float64
    layer.build((None,) + shape[1:])
    rng = np.random.default_rng(3)
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.uniform(-1.0, 1.0, c)
    mov_mean, mov_var = rng.uniform(-1.0, 1.0, c), rng.uniform(0.5, 2.0, c)
    layer.set_weights([w for w, keep in ((gamma, scale), (beta, center), (mov_mean, True), (mov_var, True)) if keep])
    g, b = (gamma if scale else np.ones(c)), (beta if center else np.zeros(c))
    x = data(shape, seed=4) * 2.0 + 0.5
    y = layer.forward(x, training=True)
    want, mu, var = ref_batchnorm(x, axis, g, b, 0.01)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.params["moving_mean"], 0.8 * mov_mean + 0.2 * mu, rtol=1e-12)
    np.testing.assert_allclose(layer.params["moving_variance"], 0.8 * mov_var + 0.2 * var, rtol=1e-12)
    # a second, larger batch (the cached ones vector must follow the batch size)
    x2 = data((shape[0] + 3,) + shape[1:], seed=5)
    np.testing.assert_allclose(layer.forward(x2, training=True), ref_batchnorm(x2, axis, g, b, 0.01)[0],
                               rtol=1e-12, atol=1e-12)
    mm, mv = layer.params["moving_mean"].copy(), layer.params["moving_variance"].copy()
    y_inf = layer.forward(x, training=False)
    np.testing.assert_allclose(y_inf, ref_batchnorm(x, axis, g, b, 0.01, mm, mv)[0], rtol=1e-12, atol=1e-12)
    assert np.array_equal(layer.params["moving_mean"], mm)                  # inference leaves them alone
    assert y_inf is not layer.x_hat and not np.shares_memory(y_inf, layer.x_hat)
    # gradients: inference is the affine map, training goes through the batch statistics
    dy = data(shape, seed=6)
    shape_c = [1] * len(shape)
    shape_c[axis] = -1
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, dy * (g / np.sqrt(mv + 0.01)).reshape(shape_c), rtol=1e-12)
    axes = tuple(a for a in range(len(shape)) if a != axis % len(shape))
    x_hat = (x - mm.reshape(shape_c)) / np.sqrt(mv + 0.01).reshape(shape_c)
    if scale:
        np.testing.assert_allclose(layer.grads["gamma"], (dy * x_hat).sum(axis=axes), rtol=1e-10, atol=1e-12)
    if center:
        np.testing.assert_allclose(layer.grads["beta"], dy.sum(axis=axes), rtol=1e-10, atol=1e-12)
    layer.forward(x, training=True)
    x_hat = (x - mu.reshape(shape_c)) / np.sqrt(var + 0.01).reshape(shape_c)
    m = x.size // c
    dxh = dy * g.reshape(shape_c)
    want_dx = (dxh - dxh.mean(axis=axes, keepdims=True) - x_hat * (dxh * x_hat).mean(axis=axes, keepdims=True)) \
        / np.sqrt(var + 0.01).reshape(shape_c)
    assert m * c == x.size
    np.testing.assert_allclose(layer.backward(dy), want_dx, rtol=1e-9, atol=1e-11)
    layer.needs_input_grad = False
    assert layer.backward(dy) is None


def test_batchnorm_float32_keeps_float32_and_frozen_uses_moving_statistics():
    x = data((8, 3, 3, 2), seed=7, dtype=np.float32) * 3.0 + 1.0
    layer = L.BatchNormalization()
    y = layer(x, training=True)
    assert y.dtype == np.float32 and layer.backward(np.ones_like(y)).dtype == np.float32
    np.testing.assert_allclose(y, ref_batchnorm(x.astype(np.float64), -1, np.ones(2), np.zeros(2), 1e-3)[0],
                               rtol=1e-4, atol=1e-4)
    frozen = L.BatchNormalization(trainable=False)
    assert frozen.trainable is False
    y = frozen(x, training=True)                      # Keras: a frozen layer runs in inference mode
    np.testing.assert_allclose(y, x / np.sqrt(1.0 + 1e-3), rtol=1e-6)
    assert np.array_equal(frozen.params["moving_mean"], np.zeros(2)) and frozen.grads == {}


def test_batchnorm_defaults_follow_keras():
    layer = L.BatchNormalization()
    assert (layer.axis, layer.momentum, layer.epsilon, layer.center, layer.scale) == (-1, 0.99, 1e-3, True, True)
    assert (layer.beta_initializer, layer.gamma_initializer) == ("zeros", "ones")
    assert (layer.moving_mean_initializer, layer.moving_variance_initializer) == ("zeros", "ones")
    layer.build((None, 3))
    assert list(layer.params) == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert layer.trainable_names == ["gamma", "beta"]
    np.testing.assert_array_equal(layer.get_weights()[0], np.ones(3))
    np.testing.assert_array_equal(layer.get_weights()[3], np.ones(3))
    custom = L.BatchNormalization(beta_initializer="ones", gamma_initializer="zeros",
                                  moving_mean_initializer="ones", moving_variance_initializer="zeros",
                                  gamma_regularizer="l2(l2=0.5)", beta_regularizer="l1(l1=0.5)",
                                  gamma_constraint="non_neg", beta_constraint="max_norm(max_value=1.0)")
    custom.build((None, 2))
    assert [w.tolist() for w in custom.get_weights()] == [[0, 0], [1, 1], [1, 1], [0, 0]]
    assert set(custom.regularizers) == {"gamma", "beta"} and set(custom.constraints) == {"gamma", "beta"}
    assert L.get(str(custom)) == custom


def test_batchnorm_errors_name_argument_and_layer():
    for kwargs, match in [({"axis": 1.0}, r"^BatchNormalization: argument 'axis' must be an integer, got 1.0$"),
                          ({"axis": True}, r"^BatchNormalization: argument 'axis' must be an integer"),
                          ({"momentum": 1.5}, r"^BatchNormalization: argument 'momentum' must be <= 1"),
                          ({"momentum": -0.1}, r"^BatchNormalization: argument 'momentum' must be >= 0"),
                          ({"epsilon": 0.0}, r"^BatchNormalization: argument 'epsilon' must be > 0"),
                          ({"center": 1}, r"^BatchNormalization: argument 'center' must be True or False"),
                          ({"scale": "yes"}, r"^BatchNormalization: argument 'scale' must be True or False")]:
        with pytest.raises(SpecError, match=match):
            L.BatchNormalization(**kwargs)
    assert L.BatchNormalization(axis=np.int64(1)).axis == 1
    assert L.BatchNormalization(momentum=0.0).momentum == 0.0 and L.BatchNormalization(momentum=1.0).momentum == 1.0
    with pytest.raises(ShapeError, match=r"^layer 'bn' \(BatchNormalization\) needs inputs with a batch axis and at "
                                         r"least one more, got input shape \(None,\)$"):
        L.BatchNormalization(name="bn").build((None,))
    for axis, shape in [(0, (None, 3)), (2, (None, 3)), (-2, (None, 3)), (-3, (None, 4, 3)), (3, (None, 4, 3))]:
        with pytest.raises(ShapeError, match=rf"^layer 'bn' \(BatchNormalization\): axis={axis} is not a feature "
                                             rf"axis of input shape \(None, .*\) \(valid: 1..{len(shape) - 1} or "
                                             rf"-1..-{len(shape) - 1}\)$"):
            L.BatchNormalization(axis=axis, name="bn").build(shape)
    L.BatchNormalization(axis=-2).build((None, 4, 3))
    with pytest.raises(ShapeError, match=r"^layer 'bn' \(BatchNormalization\): the size of axis 1 must be known, got "
                                         r"input shape \(None, None, 3\)$"):
        L.BatchNormalization(axis=1, name="bn").build((None, None, 3))
    layer = L.BatchNormalization(name="bn")
    layer.build((None, 3))
    with pytest.raises(ShapeError, match=r"^layer 'bn' expected input of shape \('batch', 3\), got \(2, 4\)$"):
        layer.forward(np.ones((2, 4)))
