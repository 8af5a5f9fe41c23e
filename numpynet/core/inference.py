"""evaluate and predict: the model in inference mode, over the data in batches.

Both run the model's forward pass (``training=False``) batch by batch and never touch the weights. Averages are
per sample: a batch's value counts for the samples it holds, so a short last batch weighs less (as Keras).
With ``mc_samples=T``, ``predict`` keeps the stochastic layers active and averages T passes (MC dropout):

    p̂ = (1/T) Σ_t f(x; mask_t),     σ̂² = (1/T) Σ_t f(x; mask_t)² − p̂²
"""

from __future__ import annotations

import warnings

import numpy as np

#: Default batch of evaluate/predict: big enough for efficient matrix products, small enough that a Conv2D's im2col
#: columns stay in the tens of megabytes (4096 28x28 images with 5x5 kernels would need 320 MB).
INFERENCE_BATCH = 512
#: ... and smaller where the layers' outputs of one batch (each layer caches its input and output) would pass this
#: many bytes: a MobileNetV2 on 32x32 images keeps ~1.5 MB per image, so 512 images would hold 2 GB.
INFERENCE_MEMORY = 256 * 2**20


def average(values, weights):
    """Σ w·v / Σ w: the per-sample mean of per-batch values, w = the batch sizes (Keras's epoch loss too)."""
    return float(np.dot(values, weights) / np.sum(weights))


def inference_batch(model):
    """INFERENCE_BATCH, or fewer samples when the cached outputs of one batch would pass INFERENCE_MEMORY."""
    per_sample = 0
    for step in model._steps:
        shape = step.layer.output_shape
        if isinstance(shape, tuple):
            per_sample += 2 * int(np.prod([d for d in shape[1:] if d is not None], dtype=np.int64))
    per_sample *= np.dtype(model.dtype).itemsize
    return int(max(16, min(INFERENCE_BATCH, INFERENCE_MEMORY // max(per_sample, 1))))


def batches(model, xs, batch_size):
    """``(start, [x[start:start + batch_size] for each input])`` over the samples."""
    batch_size = batch_size or inference_batch(model)
    for start in range(0, xs[0].shape[0], batch_size):
        yield start, [x[start:start + batch_size] for x in xs]


def metric_values(model, outs, ys):
    """``{metric name: value}`` of the outputs ``outs`` (as the model computes them) against the targets."""
    values = {}
    for i, (out, y, names) in enumerate(zip(outs, ys, model._metric_names())):
        prob = model._output(out, i)
        for name, fn in zip(names, model._metric_fns.values()):
            values[name] = float(fn(y, prob))
    return values


def evaluate_prepared(model, xs, ys, sws=None, batch_size=None):
    """``{"loss", "data_loss", "reg_loss", <metrics>}`` over all of the prepared arrays (xs, ys)."""
    data, activity, weights, metrics = [], [], [], []
    for start, xb in batches(model, xs, batch_size):
        stop = start + xb[0].shape[0]
        yb = [t[start:stop] for t in ys]
        outs, act = model._forward(xb, training=False)
        data.append(model._data_loss(outs, yb, None if sws is None else sws[start:stop]))
        activity.append(float(act))
        weights.append(xb[0].shape[0])
        if model._metric_fns:
            metrics.append(metric_values(model, outs, yb))
    data_loss = average(data, weights)
    reg_loss = model.regularization_loss() + average(activity, weights)
    result = {"loss": data_loss + reg_loss, "data_loss": data_loss, "reg_loss": reg_loss}
    for name in (metrics[0] if metrics else {}):
        result[name] = average([v[name] for v in metrics], weights)
    return result


def predict_once(model, xs, batch_size):
    """One inference pass over the data: a list with one array per output."""
    parts = []
    for _, xb in batches(model, xs, batch_size):
        outs, _ = model._forward(xb, training=False)
        parts.append([model._output(out, i) for i, out in enumerate(outs)])
    return [np.concatenate(column, axis=0) for column in zip(*parts)]


def predict(model, xs, batch_size=None, mc_samples=None, return_std=False):
    """A list of outputs (one pass), or the mean of ``mc_samples`` passes with the stochastic layers active —
    with ``return_std``, ``(means, standard deviations)``."""
    if mc_samples is None:
        return predict_once(model, xs, batch_size)
    stochastic = [step.layer for step in model._steps if getattr(step.layer, "stochastic", False)]
    if not stochastic:
        warnings.warn("predict(mc_samples=...): the model has no dropout/noise layer, every pass is identical",
                      RuntimeWarning, stacklevel=3)
    for layer in stochastic:
        layer.mc_active = True
    try:
        total = total_sq = None
        for _ in range(mc_samples):
            ps = [p.astype(np.float64) for p in predict_once(model, xs, batch_size)]
            total = ps if total is None else [t + p for t, p in zip(total, ps)]
            total_sq = [p * p for p in ps] if total_sq is None else [t + p * p for t, p in zip(total_sq, ps)]
    finally:
        for layer in stochastic:
            layer.mc_active = False
    means = [t / mc_samples for t in total]
    out = [m.astype(model.dtype) for m in means]
    if not return_std:
        return out
    stds = [np.sqrt(np.maximum(sq / mc_samples - m * m, 0.0)).astype(model.dtype) for sq, m in zip(total_sq, means)]
    return out, stds
