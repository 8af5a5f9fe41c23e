"""Depthwise and depthwise-separable convolutions on NHWC images: DepthwiseConv2D, SeparableConv2D.

A depthwise convolution filters every input channel on its own: channel c is correlated with its own
``depth_multiplier`` (M) kernels, giving output channels c·M + m (TensorFlow's layout, which Keras keeps). With
xp the padded input and W of shape (kh, kw, C, M), in the notation of :mod:`numpynet.layers.windows`::

    u[n, oh, ow, c·M + m] = Σ_{i, j} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · W[i, j, c, m]

Unlike Conv2D there is no sum over channels, so no matrix product does the work. The passes below are
``np.einsum`` contractions over *strided views* of the input (no im2col copy): one fused multiply-and-sum that
reads the kh·kw window values of every output element once. Two layouts of the same view are used:

* width stride 1 (most MobileNet layers): :meth:`_Window.row_view` makes the OW output columns and C channels of a
  kernel offset one contiguous axis, so einsum's inner loop runs over OW·C values instead of C (about 2x faster
  for C ≈ 100; the kernel is tiled OW times along that axis, a few kilobytes);
* otherwise the window view (N, OH, OW, kh, kw, C) of Conv2D and the pooling layers.

Backward, with dU viewed as (N, OH, OW, C, M)::

    dW[i, j, c, m] = Σ_{n, oh, ow} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · dU[n, oh, ow, c, m]
    dxp[n, oh·sh + i·dh, ow·sw + j·dw, c] += Σ_m dU[n, oh, ow, c, m] · W[i, j, c, m]    (all i, j, oh, ow)

dW is one einsum over the window view. The scatter that gives dx is itself a correlation: of dU, zero-extended,
with the kernel flipped (a "transposed convolution"). With stride 1 it is computed like the forward pass, straight
into dx (no padded buffer, no crop); with stride s the padded input splits into s x s *phases* (rows s·q + a,
columns s·r + b), each the correlation of dU with the flipped sub-kernel W[a::s, b::s], and the phases are
interleaved into dx (see :func:`depthwise_input_grad`). On MobileNetV2's stride-2 shapes (float32, N = 32) that is
1.3–1.9x faster than adding every kernel offset's share into a padded buffer (Conv2D's col2im).

The loops that remain run over kernel phases (s² of them) and the interleave; never over samples, pixels or
channels.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..errors import SpecError
from ..spec import check_bool
from .base import Layer, activation_arg, registry
from .windows import _Buffer, _check_fits, _check_image, _compact, _padding, _pair, _Window, input_channels, pad_border

# ---------------------------------------------------------------------------------------------------- the passes


def _tiled(kernel, width):
    """The kernel (kh, kw, C, M) repeated ``width`` times along a new axis before C, as (kh, kw, width·C, M): the
    kernel of a :meth:`_Window.row_view` contraction, where output column and channel form one axis."""
    kh, kw, c, m = kernel.shape
    return np.broadcast_to(kernel[:, :, None], (kh, kw, width, c, m)).reshape(kh, kw, width * c, m)


def depthwise_forward(xp, kernel, window, oh, ow):
    """u[n, oh, ow, c·M + m] = Σ_{i, j} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · W[i, j, c, m]; shape (N, OH, OW, C·M).

    ``xp`` is the padded C-contiguous input (N, Hp, Wp, C), ``kernel`` W (kh, kw, C, M), ``window`` the layer's
    :class:`_Window`, (oh, ow) the output size.
    """
    n = xp.shape[0]
    _, _, c, m = kernel.shape
    if window.strides[1] == 1:
        rows = window.row_view(np.ascontiguousarray(xp), oh, ow)[..., 0]        # (N, OH, kh, kw, OW·C)
        u = np.einsum("nhijq,ijqm->nhqm", rows, _tiled(kernel, ow))
    else:
        u = np.einsum("nhwijc,ijcm->nhwcm", window.view(xp, oh, ow), kernel)   # view (N, OH, OW, kh, kw, C)
    return u.reshape(n, oh, ow, c * m)


def depthwise_kernel_grad(xp, du, window, kernel_shape):
    """dW[i, j, c, m] = Σ_{n, oh, ow} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · dU[n, oh, ow, c·M + m]."""
    n, oh, ow, _ = du.shape
    _, _, c, m = kernel_shape
    return np.einsum("nhwijc,nhwcm->ijcm", window.view(xp, oh, ow), du.reshape(n, oh, ow, c, m))


def _phase_rows(pad, size, stride):
    """Phase rows q0 <= q < q1 covering padded rows pad .. pad + size − 1 (row u = stride·q + a, a < stride)."""
    return pad // stride, -(-(pad + size) // stride)


def depthwise_input_grad(du, kernel, window, x_shape, buffers=(None, None)):
    """dx (N, H, W, C) for the upstream gradient dU (N, OH, OW, C·M): the adjoint of :func:`depthwise_forward`.

    Computed per *phase* of the padded input, which turns the scatter of dU onto overlapping windows into
    stride-1 correlations. Row u = s·q + a (a < s) of the padded input only meets kernel rows i = a, a + s, ...,
    through output row q − t for i = a + s·t (dilation is 1 when s > 1), so for every (row, column) phase (a, b)

        dxp[n, s·q + a, s'·r + b, c] = Σ_{t, t', m} dU[n, q − t, r − t', c, m] · W[a + s·t, b + s'·t', c, m]

    (with stride 1 and dilation d the offsets are t·d: dU[n, q − t·d, ...] · W[t, ...])

    is dU, zero-extended, correlated with the flipped sub-kernel W[a::s, b::s] (one einsum as in the forward
    pass, over the OW·C axis of :meth:`_Window.row_view`); the phases are then interleaved into dx, the padding
    left out. With stride 1 there is a single phase, the whole (dilated) kernel, and its result is dx itself.

    ``buffers``: two :class:`_Buffer` objects (or None) that keep the zero-extended dU and the phases of
    strided layers from batch to batch.
    """
    n, h, w, c = x_shape
    _, oh, ow, _ = du.shape
    kh, kw, _, m = kernel.shape
    (sh, sw), (dh, dw) = window.strides, window.dilation
    (pt, _), (pl, _) = window.pads(h, w)
    (qh0, qh1), (qw0, qw1) = _phase_rows(pt, h, sh), _phase_rows(pl, w, sw)
    th, tw = -(-kh // sh), -(-kw // sw)                 # most kernel rows/columns in one phase
    eh, ew = (th - 1) * dh, (tw - 1) * dw               # their extent: dU gets as many zeros in front
    # pad first: pad_border's buffer is C-contiguous, so a channels-outer du is copied once, not twice
    dup = np.ascontiguousarray(pad_border(du, ((eh, qh1 - oh), (ew, qw1 - ow)), buffers[0]))
    rows, cols = qh1 - qh0, qw1 - qw0
    single = sh == sw == 1
    shape = (sh, sw, n, rows, cols * c)
    phases = np.empty(shape, du.dtype) if single or buffers[1] is None else buffers[1].get(shape, du.dtype)
    for a, b in np.ndindex(sh, sw):
        sub = kernel[a::sh, b::sw, :, :][::-1, ::-1]    # the phase's kernel taps, flipped
        ta, tb = sub.shape[:2]
        if ta == 0 or tb == 0:                           # stride larger than the kernel: rows no window reads
            phases[a, b] = 0
            continue
        start = dup[:, qh0 + (th - ta) * dh:, qw0 + (tw - tb) * dw:]
        view = _Window((ta, tb), (1, 1), (dh, dw), "valid").row_view(start, rows, cols, groups=m)
        np.einsum("nhijqm,ijqm->nhq", view, _tiled(sub, cols), out=phases[a, b])
    if single:
        return phases[0, 0].reshape(n, h, w, c)
    phases = phases.reshape(sh, sw, n, rows, cols, c)
    dx = np.empty(x_shape, du.dtype)
    for a, b in np.ndindex(sh, sw):
        y0, x0 = (a - pt) % sh, (b - pl) % sw           # first image row/column in phase (a, b)
        q, r = (y0 + pt - a) // sh - qh0, (x0 + pl - b) // sw - qw0
        ny, nx = len(range(y0, h, sh)), len(range(x0, w, sw))
        dx[:, y0::sh, x0::sw] = phases[a, b, :, q:q + ny, r:r + nx]
    return dx


# ---------------------------------------------------------------------------------------------------- layers

def _positive_int(owner, arg, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpecError(f"{owner}: argument '{arg}' must be a positive integer, got {value!r}")
    return int(value)


class _DepthwiseBase(Layer):
    """What DepthwiseConv2D and SeparableConv2D share: the window arguments, the shape checks, the depthwise pass
    and its gradient (the layers add the bias, the pointwise product and the activation)."""

    _kind = "DepthwiseConv2D"

    def _setup_window(self, kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias):
        owner = self._kind
        kernel = _pair(owner, "kernel_size", kernel_size)
        strides_ = _pair(owner, "strides", strides)
        dilation = _pair(owner, "dilation_rate", dilation_rate)
        if max(strides_) > 1 and max(dilation) > 1:
            raise SpecError(f"{owner}: strides > 1 cannot be combined with dilation_rate > 1 (as in Keras); got "
                            f"strides={strides!r}, dilation_rate={dilation_rate!r}")
        self.kernel_size, self.strides, self.dilation_rate = _compact(kernel), _compact(strides_), _compact(dilation)
        self.padding = _padding(owner, padding)
        self.depth_multiplier = _positive_int(owner, "depth_multiplier", depth_multiplier)
        self.activation = activation_arg(owner, activation)
        self.use_bias = check_bool(owner, "use_bias", use_bias)
        self.window = _Window(kernel, strides_, dilation, self.padding)
        # As Conv2D: the model sets this on the last layer when a fused loss takes the logits z.
        self.output_logits = False
        self._xp = _Buffer()
        self._dup = _Buffer()
        self._phases = _Buffer()

    def _input_channels(self, input_shape):
        """Check the build shape (4-D, channels known, kernel fits) and return the number of input channels."""
        return input_channels(self, self._kind, tuple(input_shape))

    def compute_output_shape(self, input_shape):
        """(N, OH, OW, output channels); the input shape is checked first (also when a graph is written)."""
        c_in = self._input_channels(input_shape)
        oh, ow = self.window.output_hw(input_shape[1], input_shape[2])
        return (input_shape[0], oh, ow, self._output_channels(c_in))

    def _depthwise(self, x, kernel):
        """Check x and return the depthwise output U (N, OH, OW, C·M), caching what the gradient needs."""
        _check_image(self, x, self._kind)
        _, h, w, _ = x.shape
        _check_fits(self, self._kind, self.window, h, w)
        oh, ow = self.window.output_hw(h, w)
        xp = np.ascontiguousarray(pad_border(x, self.window.pads(h, w), self._xp))   # one copy at most
        dtype = np.result_type(xp.dtype, kernel.dtype)
        self.xp, self.x_shape = xp, x.shape
        return depthwise_forward(xp, kernel.astype(dtype, copy=False), self.window, oh, ow)

    def _depthwise_backward(self, du, key):
        """Fill grads[key] (the depthwise kernel's gradient) and return dx (None when not needed)."""
        kernel = self.params[key]
        if key in self.grads:
            self.grads[key][...] = depthwise_kernel_grad(self.xp, du, self.window, kernel.shape)
        if not self.needs_input_grad:
            return None
        return depthwise_input_grad(du, kernel.astype(du.dtype, copy=False), self.window, self.x_shape,
                                    (self._dup, self._phases))

    def _activate(self, z):
        self.z = z
        self.y = z if self.output_logits else self.activation.forward(z)
        return self.y

    def _dz(self, dy):
        return dy if self.output_logits else self.activation.backward(dy, self.z, self.y)


@registry.register("depthwise_conv2d", "depthwiseconv2d", "depthwise_convolution2d", "depthwise")
class DepthwiseConv2D(_DepthwiseBase):
    """Depthwise 2-D convolution: every input channel is filtered by its own ``depth_multiplier`` kernels.

    Shapes: x (N, H, W, C), W (kh, kw, C, M) with M = depth_multiplier, b (C·M,), y (N, OH, OW, C·M) with (OH, OW)
    as in :mod:`numpynet.layers.windows` (``padding="same"`` puts the odd extra pixel at the bottom/right, as Keras).
    Forward, with xp the padded input::

        z[n, oh, ow, c·M + m] = b[c·M + m] + Σ_{i, j} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · W[i, j, c, m]
        y = act(z)

    Output channel c·M + m comes from input channel c (TensorFlow's layout). Backward, with dz = act'(z) ⊙ dy
    viewed as (N, OH, OW, C, M)::

        dW[i, j, c, m] = Σ_{n, oh, ow} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · dz[n, oh, ow, c, m]
        db[c·M + m]    = Σ_{n, oh, ow} dz[n, oh, ow, c·M + m]
        dx: dxp[n, oh·sh + i·dh, ow·sw + j·dw, c] += Σ_m dz[n, oh, ow, c, m] · W[i, j, c, m], padding cropped

    Each is one fused ``np.einsum`` over a strided view of the input (see the module docstring); stride 1's dx
    is the correlation of the zero-extended dz with the flipped kernel.
    """

    _kind = "DepthwiseConv2D"

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, name=None, trainable=True, seed=None):
        super().__init__(name=name, trainable=trainable, seed=seed, activity_regularizer=activity_regularizer)
        self._setup_window(kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.bias_regularizer = bias_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.bias_constraint = bias_constraint

    def build(self, input_shape):
        c_in = self._input_channels(input_shape)
        kh, kw = self.window.kernel
        self.add_weight("W", (kh, kw, c_in, self.depth_multiplier), self.depthwise_initializer,
                        self.depthwise_regularizer, self.depthwise_constraint)
        if self.use_bias:
            self.add_weight("b", (c_in * self.depth_multiplier,), self.bias_initializer, self.bias_regularizer,
                            self.bias_constraint)
        super().build(input_shape)

    def _output_channels(self, c_in):
        return c_in * self.depth_multiplier

    def forward(self, x, training=False):
        z = self._depthwise(x, self.params["W"])
        if self.use_bias:
            z += self.params["b"]
        return self._activate(z)

    def backward(self, dy):
        dz = self._dz(dy)
        if self.use_bias and "b" in self.grads:
            self.grads["b"][...] = dz.reshape(-1, dz.shape[-1]).sum(axis=0)
        return self._depthwise_backward(dz, "W")


@registry.register("separable_conv2d", "separableconv2d", "separable_convolution2d", "separableconvolution2d")
class SeparableConv2D(_DepthwiseBase):
    """Depthwise-separable 2-D convolution: a depthwise convolution (no bias) followed by a 1x1 convolution.

    Shapes: x (N, H, W, C), depthwise kernel D (kh, kw, C, M), pointwise kernel P (1, 1, C·M, F) used as the
    (C·M, F) matrix, b (F,), y (N, OH, OW, F). Forward::

        u[n, oh, ow, c·M + m] = Σ_{i, j} xp[n, oh·sh + i·dh, ow·sw + j·dw, c] · D[i, j, c, m]    (DepthwiseConv2D)
        z = u · P + b        (per pixel: a (C·M)-vector times a (C·M, F) matrix)
        y = act(z)

    Backward, with dz = act'(z) ⊙ dy and u, dz flattened to (N·OH·OW, ·)::

        dP = uᵀ · dz        db = Σ_rows dz        du = dz · Pᵀ

    and du goes through the depthwise gradient of :class:`DepthwiseConv2D` (dD and dx).
    """

    _kind = "SeparableConv2D"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", depth_multiplier=1, dilation_rate=1,
                 activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, name=None,
                 trainable=True, seed=None):
        super().__init__(name=name, trainable=trainable, seed=seed, activity_regularizer=activity_regularizer)
        self.filters = _positive_int("SeparableConv2D", "filters", filters)
        self._setup_window(kernel_size, strides, padding, depth_multiplier, dilation_rate, activation, use_bias)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer
        self.depthwise_regularizer = depthwise_regularizer
        self.pointwise_regularizer = pointwise_regularizer
        self.bias_regularizer = bias_regularizer
        self.depthwise_constraint = depthwise_constraint
        self.pointwise_constraint = pointwise_constraint
        self.bias_constraint = bias_constraint

    def build(self, input_shape):
        c_in = self._input_channels(input_shape)
        kh, kw = self.window.kernel
        m = self.depth_multiplier
        self.add_weight("depthwise_kernel", (kh, kw, c_in, m), self.depthwise_initializer,
                        self.depthwise_regularizer, self.depthwise_constraint)
        self.add_weight("pointwise_kernel", (1, 1, c_in * m, self.filters), self.pointwise_initializer,
                        self.pointwise_regularizer, self.pointwise_constraint)
        if self.use_bias:
            self.add_weight("b", (self.filters,), self.bias_initializer, self.bias_regularizer, self.bias_constraint)
        super().build(input_shape)

    def _output_channels(self, c_in):
        return self.filters

    def forward(self, x, training=False):
        u = self._depthwise(x, self.params["depthwise_kernel"])
        pointwise = self.params["pointwise_kernel"]
        n, oh, ow, cm = u.shape
        z = u.reshape(-1, cm) @ pointwise.reshape(cm, self.filters).astype(u.dtype, copy=False)
        if self.use_bias:
            z += self.params["b"]
        self.u = u
        return self._activate(z.reshape(n, oh, ow, self.filters))

    def backward(self, dy):
        dz = np.ascontiguousarray(self._dz(dy))
        pointwise = self.params["pointwise_kernel"]
        matrix = pointwise.reshape(pointwise.shape[2:])
        u2, dz2 = self.u.reshape(-1, self.u.shape[-1]), dz.reshape(-1, self.filters)
        if "pointwise_kernel" in self.grads:
            self.grads["pointwise_kernel"][...] = (u2.T @ dz2).reshape(pointwise.shape)
        if self.use_bias and "b" in self.grads:
            self.grads["b"][...] = dz2.sum(axis=0)
        du = (dz2 @ matrix.T.astype(dz2.dtype, copy=False)).reshape(self.u.shape)
        return self._depthwise_backward(du, "depthwise_kernel")


__all__ = ["DepthwiseConv2D", "SeparableConv2D", "depthwise_forward", "depthwise_kernel_grad",
           "depthwise_input_grad"]
