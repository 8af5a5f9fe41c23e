"""The peers: the same four workloads written idiomatically in PyTorch, Keras 3 (TensorFlow) and scikit-learn.

Each framework is imported only inside its own runner, so a missing one is a skipped row with a note, never an
import error. Every runner has the signature ``run_<framework>(wl, data, timer) -> dict`` and returns

    {"epoch_seconds": [...], "test_accuracy": float, "version": str, "note": str}

where ``timer`` is a :class:`benchmarks.run.Timer`-like object (``start()`` / ``stop()`` per epoch). The runners
follow each library's fast, usual path: no DataLoader in PyTorch (index the tensors with a permutation), plain
``model.fit`` in Keras, ``partial_fit`` once per epoch in scikit-learn. All of them use float32 data, two compute
threads (see :func:`set_threads`), the workload's initializer, optimizer, batch size and L2 penalty. W4's
MobileNetV2 is built by :mod:`benchmarks.mobilenet` (the same network in both frameworks, checked number for number).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from . import SEED, THREADS

FRAMEWORKS = ("numpynet", "pytorch", "keras", "sklearn")
_MODULE = {"numpynet": "numpynet", "pytorch": "torch", "keras": "keras", "sklearn": "sklearn"}


def availability(framework):
    """``(True, "")`` when ``framework`` can be imported, else ``(False, why)``; imports nothing heavy."""
    module = _MODULE[framework]
    if importlib.util.find_spec(module) is None:
        hint = {"torch": "pip install torch==2.13.0", "keras": "pip install tensorflow-cpu keras",
                "sklearn": "pip install scikit-learn"}.get(module, "")
        return False, f"{module} is not installed ({hint})" if hint else f"{module} is not installed"
    if framework == "keras" and importlib.util.find_spec("tensorflow") is None:
        return False, "keras is installed but tensorflow is not (the benchmark uses the TensorFlow backend)"
    return True, ""


def unsupported(framework, wl):
    """Why ``framework`` cannot run workload ``wl`` (empty string when it can)."""
    if framework == "sklearn" and wl.image:
        return "scikit-learn has no convolution layers"
    return ""


# ---------------------------------------------------------------------------------------------------- PyTorch
def _torch_model(wl):
    import torch
    from torch import nn

    if wl.network == "mobilenet_v2":
        from .mobilenet import torch_mobilenet_v2

        return torch_mobilenet_v2((28 + 2 * wl.pad, 28 + 2 * wl.pad, 1), 10, width=wl.width)
    act = {"sigmoid": nn.Sigmoid, "elu": nn.ELU, "relu": nn.ReLU}[wl.activation]
    if wl.network == "lenet5":
        layers = [nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                  nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                  nn.Linear(84, 10)]
    else:
        layers, n_in = [], 784
        for units in wl.hidden:
            layers += [nn.Linear(n_in, units), act()]
            n_in = units
        layers.append(nn.Linear(n_in, 10))
    model = nn.Sequential(*layers)
    # Keras's initializers, so that the accuracies are comparable: glorot_uniform or he_normal (truncated normal
    # with Keras's 0.8796 correction), zero biases.
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Linear, nn.Conv2d)):
                if wl.init == "he_normal":
                    fan_in = layer.weight[0].numel()
                    std = (2.0 / fan_in) ** 0.5 / 0.87962566103423978
                    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
                else:
                    nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
    return model


def run_pytorch(wl, data, timer):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    (X, y), (Xt, yt) = data
    if wl.image:   # PyTorch convolutions want NCHW
        X, Xt = X.transpose(0, 3, 1, 2).copy(), Xt.transpose(0, 3, 1, 2).copy()
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    model = _torch_model(wl)
    # Keras-style L2 (penalty l2·Σw² on kernels only) is SGD's coupled weight decay 2·l2 on the kernels' group.
    # (MobileNetV2: its convolution and Dense kernels and the Dense bias; BatchNorm's gamma and beta are not.)
    if hasattr(model, "kernels"):
        kernels = model.kernels()
    else:
        kernels = [p for name, p in model.named_parameters() if name.endswith("weight")]
    others = [p for p in model.parameters() if all(p is not k for k in kernels)]
    opt = torch.optim.SGD([{"params": kernels, "weight_decay": 2 * wl.l2}, {"params": others, "weight_decay": 0.0}],
                          lr=wl.lr, momentum=wl.momentum)
    gen = torch.Generator().manual_seed(SEED)
    n, bs = X.shape[0], wl.batch_size
    timer.fit_begin()
    for _ in range(wl.epochs):
        timer.start()
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * idx.numel()
        timer.stop()
    timer.fit_end()
    model.eval()
    with torch.no_grad():
        step = wl.eval_batch
        pred = torch.cat([model(torch.from_numpy(Xt[i:i + step])).argmax(1) for i in range(0, len(Xt), step)])
    return {"test_accuracy": float((pred.numpy() == yt).mean()), "train_loss": total / n,
            "version": torch.__version__,
            "note": f"eager mode, tensors indexed by a permutation (no DataLoader), torch.set_num_threads({THREADS})"}


# ---------------------------------------------------------------------------------------------------- Keras
def _configure_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    # Must happen before TensorFlow creates its thread pools (the first op).
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    return tf


def run_keras(wl, data, timer):
    tf = _configure_tensorflow()
    import keras

    keras.utils.set_random_seed(SEED)
    (X, y), (Xt, yt) = data
    model = _keras_model(wl, X.shape[1:])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=wl.lr, momentum=wl.momentum),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            timer.start()

        def on_epoch_end(self, epoch, logs=None):
            timer.stop()

    timer.fit_begin()
    hist = model.fit(X, y, batch_size=wl.batch_size, epochs=wl.epochs, shuffle=True, verbose=0,
                     callbacks=[EpochTimer()])
    timer.fit_end()
    pred = model.predict(Xt, batch_size=wl.eval_batch, verbose=0).argmax(axis=1)
    return {"test_accuracy": float((pred == yt).mean()), "train_loss": float(hist.history["loss"][-1]),
            "version": f"keras {keras.__version__} / tensorflow {tf.__version__}",
            "note": f"model.fit, default jit_compile, TF intra_op={THREADS} inter_op={THREADS} threads"}


def _keras_model(wl, input_shape):
    """The workload's network as an uncompiled Keras model (Sequential; W4 functional)."""
    import keras

    if wl.network == "mobilenet_v2":
        from .mobilenet import keras_mobilenet_v2

        reg = f"l2(l2={wl.l2!r})" if wl.l2 else None
        return keras_mobilenet_v2(tuple(input_shape), 10, width=wl.width, regularizer=reg)
    layers = [keras.Input(tuple(input_shape))]
    if wl.network == "lenet5":
        layers += [keras.layers.Conv2D(6, 5, padding="same", activation="relu"), keras.layers.MaxPooling2D(2),
                   keras.layers.Conv2D(16, 5, activation="relu"), keras.layers.MaxPooling2D(2),
                   keras.layers.Flatten(), keras.layers.Dense(120, activation="relu"),
                   keras.layers.Dense(84, activation="relu")]
    else:
        reg = keras.regularizers.L2(wl.l2) if wl.l2 else None
        layers += [keras.layers.Dense(units, activation=wl.activation, kernel_initializer=wl.init,
                                      kernel_regularizer=reg) for units in wl.hidden]
    reg = keras.regularizers.L2(wl.l2) if wl.l2 else None
    layers.append(keras.layers.Dense(10, kernel_initializer=wl.init, kernel_regularizer=reg))
    return keras.Sequential(layers)


# ---------------------------------------------------------------------------------------------------- scikit-learn
def run_sklearn(wl, data, timer):
    import sklearn
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    (X, y), (Xt, yt) = data
    notes = [f"MLPClassifier(solver='sgd'), partial_fit once per epoch, BLAS limited to {THREADS} threads"]
    activation = {"sigmoid": "logistic", "relu": "relu"}.get(wl.activation)
    if activation is None:
        activation = "relu"
        notes.append(f"relu instead of {wl.activation} (scikit-learn has no {wl.activation})")
    if wl.init != "glorot_uniform":
        notes.append(f"scikit-learn's own Glorot initialization instead of {wl.init}")
    # scikit-learn divides its penalty ½·alpha·Σw² by the batch size: alpha = 2·l2·batch gives Keras's 2·l2·w.
    clf = MLPClassifier(hidden_layer_sizes=wl.hidden, activation=activation, solver="sgd", alpha=2 * wl.l2 *
                        wl.batch_size, batch_size=wl.batch_size, learning_rate_init=wl.lr, momentum=wl.momentum,
                        nesterovs_momentum=False, shuffle=True, random_state=SEED)
    classes = np.arange(10)
    with threadpool_limits(THREADS):
        timer.fit_begin()
        for _ in range(wl.epochs):
            timer.start()
            clf.partial_fit(X, y, classes=classes)
            timer.stop()
        timer.fit_end()
        accuracy = float(clf.score(Xt, yt))
    return {"test_accuracy": accuracy, "train_loss": float(clf.loss_), "version": sklearn.__version__,
            "note": "; ".join(notes)}


RUNNERS = {"pytorch": run_pytorch, "keras": run_keras, "sklearn": run_sklearn}
