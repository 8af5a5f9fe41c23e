"""Side-by-side training benchmarks: numpynet against PyTorch, Keras and scikit-learn on the CPU.

The four reference workloads of ``shared/DESIGN.md`` are described once here (:data:`WORKLOADS`) and every framework
implements the same network, optimizer and batch size from that description (numpynet in :mod:`benchmarks.run`,
the peers in :mod:`benchmarks.peers`, W4's MobileNetV2 for PyTorch and Keras in :mod:`benchmarks.mobilenet`).
Run ``python -m benchmarks.run --help`` or see ``benchmarks/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

THREADS = 2          # compute threads given to every framework (BLAS, torch intra-op, TF intra-op)
SEED = 0


@dataclass(frozen=True)
class Workload:
    """One reference workload: data, network, optimizer, batch size (the same for every framework)."""

    id: str
    title: str
    n_train: int
    n_test: int
    image: bool               # True: NHWC (N, 28, 28, 1) images (padded by ``pad``); False: flattened (N, 784)
    batch_size: int
    epochs: int               # default number of epochs (the first one is dropped from the statistics)
    lr: float
    momentum: float = 0.0
    hidden: tuple = ()        # Dense hidden layers (units) of an MLP; empty for the LeNet workload
    activation: str = "relu"
    init: str = "glorot_uniform"
    l2: float = 0.0           # Keras meaning: penalty l2·Σw² on every kernel, gradient 2·l2·w
    network: str = "mlp"      # "mlp" (Dense ``hidden`` layers), "lenet5" or "mobilenet_v2"
    pad: int = 0              # zero pixels added on each side of the 28x28 images (2: 32x32)
    width: float = 1.0        # MobileNetV2's width multiplier
    eval_batch: int = 4096    # batch size of the test-accuracy pass (peers; memory only, not timed)
    quick: dict = field(default_factory=dict)   # overrides for --quick


WORKLOADS = {
    "W1": Workload("W1", "784-200 sigmoid-10, SGD lr 0.1, batch 64, 20k images", n_train=20_000, n_test=10_000,
                   image=False, batch_size=64, epochs=8, lr=0.1, hidden=(200,), activation="sigmoid",
                   quick={"n_train": 2_048, "n_test": 512, "epochs": 2}),
    "W2": Workload("W2", "784-300-100-10 elu, he_normal, L2 1e-4, momentum 0.9 lr 0.01, batch 128, 60k images",
                   n_train=60_000, n_test=10_000, image=False, batch_size=128, epochs=5, lr=0.01, momentum=0.9,
                   hidden=(300, 100), activation="elu", init="he_normal", l2=1e-4,
                   quick={"n_train": 2_048, "n_test": 512, "epochs": 2}),
    "W3": Workload("W3", "LeNet-5 (conv6 same-pool-conv16-pool-120-84-10 relu), SGD lr 0.01, batch 32, 2k images",
                   n_train=2_000, n_test=10_000, image=True, batch_size=32, epochs=8, lr=0.01, network="lenet5",
                   quick={"n_train": 256, "n_test": 256, "epochs": 2}),
    # MobileNetV2 costs ~100x LeNet-5 per image: 2,000 test images (not 10,000) keep the accuracy pass short;
    # --quick also narrows the network (width 0.25) so that the harness check stays a matter of seconds.
    "W4": Workload("W4", "MobileNetV2 (16 bottlenecks, 1280 head), 32x32 padded images, SGD lr 0.05 momentum 0.9, "
                   "batch 32, 2k images", n_train=2_000, n_test=2_000, image=True, batch_size=32, epochs=4, lr=0.05,
                   momentum=0.9, network="mobilenet_v2", pad=2, eval_batch=250,
                   quick={"n_train": 128, "n_test": 128, "epochs": 2, "width": 0.25}),
}


def workload(wid, quick=False, epochs=None):
    """The workload ``wid`` ("W1" ... "W4"), shrunk for ``quick`` runs, with ``epochs`` if given."""
    base = WORKLOADS[wid.upper()]
    changes = dict(base.quick) if quick else {}
    if epochs is not None:
        changes["epochs"] = int(epochs)
    if not changes:
        return base
    fields = {k: getattr(base, k) for k in base.__dataclass_fields__}
    fields.update(changes)
    return Workload(**fields)


def synthetic_data(n_train, n_test, image, seed=SEED):
    """Fashion-MNIST-shaped float32 data in [0, 1] with learnable classes (a prototype per class plus noise).

    Used by ``--data synthetic`` (tests, machines without the dataset): same shapes and dtypes, so the timings
    mean the same thing, and accuracy is well above chance when training works.
    """
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 784), dtype=np.float32)
    n = n_train + n_test
    y = rng.integers(0, 10, size=n)
    X = 0.6 * prototypes[y] + 0.4 * rng.random((n, 784), dtype=np.float32)
    X = X.astype(np.float32)
    if image:
        X = X.reshape(n, 28, 28, 1)
    return (X[:n_train], y[:n_train]), (X[n_train:], y[n_train:])


def load_data(wl, source="auto"):
    """``((X, y), (X_test, y_test), name)`` for workload ``wl``: float32 pixels /255, int64 labels; images
    zero-padded by ``wl.pad`` pixels on each side (W4: 28x28 -> 32x32).

    ``source``: "fashion" (Fashion-MNIST, must be installed locally: nothing is downloaded during a benchmark),
    "synthetic", or "auto" (Fashion-MNIST when found, else synthetic).
    """
    if source in ("fashion", "auto"):
        from numpynet import datasets
        try:
            train, test = datasets.load_fashion_mnist(n_train=wl.n_train, n_test=wl.n_test, flatten=not wl.image,
                                                      dtype=np.float32, download=False)
            return pad_images(train, wl.pad), pad_images(test, wl.pad), "fashion-mnist"
        except Exception:
            if source == "fashion":
                raise
    train, test = synthetic_data(wl.n_train, wl.n_test, wl.image)
    return pad_images(train, wl.pad), pad_images(test, wl.pad), "synthetic"


def pad_images(split, pad):
    """``(X, y)`` with NHWC images ``X`` zero-padded by ``pad`` pixels on every side (unchanged for ``pad`` 0)."""
    X, y = split
    if pad:
        X = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return X, y
