"""Experiment grids, part 3: building and training the model of a configuration, and running a whole grid
(serially, on joblib worker processes or on a Dask cluster)."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time

import numpy as np

from ..core import layers as _layers
from ..core.errors import DataError, SpecError
from ..core.spec import check_int
from .grid_config import PRESETS, make_config, make_configs
from .grid_data import as_data
from .grid_results import GridResults

#: |w| below this counts as "zero" in the sparsity column: plain SGD on an L1 penalty does not make weights exactly
#: zero, it makes them jitter around zero by about lr·λ per step, far below this threshold.
ZERO_THRESHOLD = 1e-3


def build_model(config, n_classes, input_shape=None):
    """The numpynet model of a :class:`Config` (compiled; built when ``input_shape`` is given).

    Without batch normalization this is :class:`numpynet.DFN`; with it, the Sequential stack
    ``Dense(h, no bias) → BatchNormalization → Activation`` per hidden layer (normalization before the
    nonlinearity, as in Ioffe & Szegedy; the bias is redundant because BN's β shifts the same way).
    """
    from ..core.model import DFN, Sequential, dfn_layers
    config = make_config(config)
    if config.architecture == "mobilenet_v2":
        return _build_mobilenet(config, n_classes, input_shape)
    if not config.batchnorm:
        model = DFN(hidden_dims=config.hidden_dims, n_classes=n_classes, activation=config.activation,
                    optimizer=config.optimizer, regularizer=config.regularizer, init_w=config.init_w,
                    dropout=config.dropout, seed=config.seed, dtype=config.dtype)
    else:
        stack = dfn_layers(config.hidden_dims, n_classes, activation=config.activation,
                           regularizer=config.regularizer, init_w=config.init_w, dropout=config.dropout,
                           batchnorm=True, bn_momentum=config.bn_momentum)
        model = Sequential(stack, seed=config.seed, dtype=config.dtype, name="dfn_bn")
        model.compile(optimizer=config.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    if input_shape is not None:
        model.build((None,) + tuple(input_shape[1:]))
    return model


def _set_bn_momentum(model, momentum):
    """Set the moving-average momentum of every BatchNormalization layer of ``model`` (None: leave them)."""
    if momentum is None:
        return
    for layer in model.layers:
        if isinstance(layer, _layers.BatchNormalization):
            layer.momentum = float(momentum)


def _build_mobilenet(config, n_classes, input_shape):
    """MobileNetV2 of ``config`` on images of ``input_shape`` ((N, H, W, C) or (H, W, C); None: 32x32x1)."""
    from .applications import mobilenet_v2
    shape = (32, 32, 1) if input_shape is None else tuple(input_shape)
    if len(shape) == 4:
        shape = shape[1:]
    if len(shape) != 3:
        raise DataError(f"architecture 'mobilenet_v2' needs NHWC images, got samples of shape {shape}; load them "
                        f"with load_data(..., image_size=32) (or flatten=False)")
    model = mobilenet_v2(input_shape=shape, classes=n_classes, regularizer=config.regularizer, width=config.width,
                         seed=config.seed, dtype=config.dtype)
    _set_bn_momentum(model, config.bn_momentum)
    model.compile(optimizer=config.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    model.build((None,) + shape)
    return model


def train_config(config, data, verbose=0, return_model=False, callbacks=None, grad_stats=False):
    """Train one configuration on ``data`` and evaluate it.

    ``grad_stats``: also record :class:`~numpynet.callbacks.GradientStats` (per-layer gradient norms, penalty
    shares, dead/saturated units; history keys ``grad_norm/...``) and put the kernels' penalty share of the last
    epoch in the row (``penalty_share``, see :func:`numpynet.tracing.penalty_share`).

    Returns ``{"row": {...}, "history": {...}, "weights": W}``: the table row (see :class:`GridResults`), the
    per-epoch history (with ``reg_penalty``, ``sum(model.losses)`` after each epoch, from a
    :class:`~numpynet.callbacks.RegularizationLogger`) and a copy of the weights the sparsity columns describe
    (:func:`kernel_weights`); with ``return_model`` also ``"model"``.
    """
    from ..core.callbacks import RegularizationLogger
    config = make_config(config)
    data = as_data(data)
    model = build_model(config, data.n_classes, data.X_train.shape)
    val = None if data.X_val is None else (data.X_val, data.y_val)
    logger = RegularizationLogger()
    with _blas_threads(config):
        start = time.perf_counter()
        hist = model.fit(data.X_train, data.y_train, epochs=config.epochs, batch_size=config.batch_size,
                         validation_data=val, callbacks=[logger] + list(callbacks or []) + _grad_stats(grad_stats),
                         verbose=verbose)
        seconds = time.perf_counter() - start
        accuracy = {"train_accuracy": model.evaluate(data.X_train, data.y_train)["accuracy"],
                    "val_accuracy": None if val is None else model.evaluate(*val)["accuracy"],
                    "test_accuracy": model.evaluate(data.X_test, data.y_test)["accuracy"]}
    history = {key: [float(v) for v in values] for key, values in hist.history.items()}
    weights = kernel_weights(model, config)
    row = {"name": config.name, "spec": config.spec, **accuracy,
           "data_loss": history["data_loss"][-1] if history.get("data_loss") else math.nan,
           "reg_loss": history["reg_loss"][-1] if history.get("reg_loss") else math.nan,
           "reg_penalty": logger.values[-1] if logger.values else math.nan,
           "reg_penalty_initial": logger.initial,
           "zero_weights": float(np.mean(np.abs(weights) < ZERO_THRESHOLD)),
           "mean_abs_weight": float(np.mean(np.abs(weights))),
           "epochs": len(history.get("loss", [])),
           "seconds_per_epoch": float(np.mean(history["seconds"])) if history.get("seconds") else math.nan,
           "seconds": seconds,
           "params": int(model.count_params())}
    if grad_stats:
        from ..core.tracing import penalty_share
        row["penalty_share"] = penalty_share(history)
    out = {"config": config, "row": row, "history": history, "weights": weights}
    if return_model:
        out["model"] = model
    return out


def _blas_threads(config):
    """A context in which ``config`` trains: for MobileNetV2, one BLAS thread (threadpoolctl); else unchanged.

    MobileNetV2 runs thousands of small matrix products per epoch. With two BLAS threads, float32 sums come out in
    another order than with one, and 300 SGD steps through 52 batch normalizations amplify that into test
    accuracies two points apart — so a grid run serially (all threads) would not match the same grid on joblib
    workers (one thread each). On a shared 2-core machine two OpenBLAS threads were also 20× slower than one as
    soon as another process held a core (63 s instead of 3 s per epoch of 1,000 images). One thread gives the same
    numbers serial or parallel, and parallel workers use the cores.
    """
    if make_config(config).architecture == "dfn":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:          # threadpoolctl comes with scikit-learn; without it, leave BLAS as it is
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def kernel_weights(model, config):
    """The weights the sparsity columns and histograms describe: a DFN's first kernel (see :func:`first_kernel`);
    for MobileNetV2 every kernel (convolutions, depthwise convolutions, classifier), flattened into one vector —
    its first convolution holds only 3·3·1·32·width of them."""
    if make_config(config).architecture == "dfn":
        return first_kernel(model)
    kernels = [layer.params["W"].ravel() for layer in model.layers if "W" in layer.params]
    if not kernels:
        raise DataError("the model has no layer with a kernel 'W'")
    return np.concatenate(kernels)


def first_kernel(model):
    """A copy of the first layer kernel "W" of ``model`` (the weights the histograms show)."""
    for layer in model.layers:
        if "W" in layer.params:
            return layer.params["W"].copy()
    raise DataError("the model has no layer with a kernel 'W'")


def _grad_stats(enabled):
    from ..core.callbacks import GradientStats
    return [GradientStats()] if enabled else []


def _train_quietly(config, data, grad_stats=False):
    # Module-level so joblib/Dask can pickle it by reference into worker processes.
    return train_config(config, data, verbose=0, grad_stats=grad_stats)


def run_grid(configs, data, jobs=1, scheduler=None, verbose=1, grad_stats=False):
    """Train every configuration on ``data`` and collect the results.

    ``configs``: Configs, dicts or spec strings (see :func:`make_config`) or a preset name. ``data``: a
    :class:`Data`, a dataset name or ``((X_train, y_train), (X_test, y_test))``.
    ``jobs``: 1 trains in this process; N > 1 runs N joblib worker processes; None uses one per CPU core (at most
    one per configuration). ``scheduler``: the address of a Dask scheduler (``"tcp://host:8786"``) to run the
    grid on its workers (needs ``pip install numpynet[dist]``; the workers need numpynet installed).
    ``verbose``: 1 prints a line per finished configuration. ``grad_stats``: record gradient statistics in every
    history and the kernels' penalty share in every row (the table's "penalty share" column). Returns
    :class:`GridResults`.
    """
    if isinstance(configs, str) and configs in PRESETS:
        configs = PRESETS[configs].configs
    configs = make_configs(configs)
    data = as_data(data)
    if jobs is None:
        jobs = min(len(configs), os.cpu_count() or 1)
    jobs = check_int("run_grid", "jobs", jobs, minimum=-1)
    if jobs == 0:
        raise SpecError("run_grid: argument 'jobs' must be >= 1, or -1 for one per CPU core, got 0")
    start = time.perf_counter()
    outputs = []
    bar = _grid_bar(len(configs)) if verbose else None
    for i, out in enumerate(_dispatch(configs, data, jobs, scheduler, grad_stats)):
        outputs.append(out)
        if verbose:
            row = out["row"]
            _clear_terminal_line()
            print(f"[{i + 1}/{len(configs)}] {row['name']:<20} test accuracy {row['test_accuracy']:.2%}  "
                  f"({row['seconds']:.1f} s)", flush=True)
            bar.update(i + 1)
    if bar is not None:
        bar.finish()
    return GridResults([o["row"] for o in outputs], {o["row"]["name"]: o["history"] for o in outputs},
                       {o["row"]["name"]: o["weights"] for o in outputs}, configs=configs,
                       data=data.describe(), seconds=time.perf_counter() - start)


def _grid_bar(n):
    """A progressbar2 bar on stderr over the grid's configurations (finished / total, ETA)."""
    import progressbar

    from ..core.progress import CurrentStderr
    widgets = ["grid ", progressbar.Counter(), f"/{n} configurations ", progressbar.Bar(), " ", progressbar.ETA()]
    return progressbar.ProgressBar(max_value=n, widgets=widgets, fd=CurrentStderr()).start()


def _clear_terminal_line():
    """Wipe the bar's line on a terminal before printing a result line (stdout and stderr share the screen)."""
    if getattr(sys.stderr, "isatty", lambda: False)():
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def _dispatch(configs, data, jobs, scheduler, grad_stats=False):
    """Yield each configuration's result, in the order of ``configs``."""
    if scheduler is None and jobs == 1:
        for config in configs:
            yield _train_quietly(config, data, grad_stats)
        return
    from joblib import Parallel, delayed
    tasks = (delayed(_train_quietly)(config, data, grad_stats) for config in configs)
    if scheduler is None:
        yield from Parallel(n_jobs=jobs, return_as="generator")(tasks)
        return
    from .sklearn import dask_backend
    with dask_backend(scheduler):
        yield from Parallel(n_jobs=jobs if jobs > 1 else -1, return_as="generator")(tasks)

