"""How close can plain NumPy get to its matrix products? W1 written with no framework at all, timed side by side.

    python -m benchmarks.floor [--epochs 9] [--data auto|fashion|synthetic]

One W1 epoch (784-200 sigmoid-10, softmax cross-entropy, plain SGD lr 0.1, batch 64) is written here as the
shortest NumPy loop that does the same arithmetic as numpynet: gather the shuffled batch, two GEMMs with bias,
the sigmoid in four passes, the fused softmax-CE gradient, three backward GEMMs, bias gradients as 1ᵀ·dz, and the
SGD step (w −= η·g, two passes: NumPy has no fused multiply-add of two arrays). No checks, no callbacks, no
layers. numpynet trains W1 with one ``fit``, as in ``benchmarks.run``; after each of its epochs, one epoch of
this bare loop and one epoch of the same matrix products alone (``run.GemmEpochs``) run, so that all three see
the same load; the medians of the per-round ratios are printed.

bare / GEMM is the floor of the "numpynet / its GEMM time" check for a NumPy framework on this machine;
numpynet / bare is what the framework itself costs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from . import SEED, load_data, workload
from .run import GemmEpochs, _limit_blas_threads, measured, numpynet_model


class BareW1:
    """W1's network as bare arrays, trained by :meth:`epoch`; the same initialization scale as glorot_uniform."""

    def __init__(self, n_in=784, n_hidden=200, n_out=10, batch_size=64, lr=0.1, seed=SEED):
        rng = np.random.default_rng(seed)
        self.rng, self.batch_size, self.lr = rng, batch_size, lr

        def glorot(fan_in, fan_out):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            return rng.uniform(-limit, limit, (fan_in, fan_out)).astype(np.float32)

        self.W1, self.b1 = glorot(n_in, n_hidden), np.zeros(n_hidden, np.float32)
        self.W2, self.b2 = glorot(n_hidden, n_out), np.zeros(n_out, np.float32)
        self.gW1, self.gW2 = np.empty_like(self.W1), np.empty_like(self.W2)
        self.step1, self.step2 = np.empty_like(self.W1), np.empty_like(self.W2)
        self.ones_batch, self.ones_out = np.ones(batch_size, np.float32), np.ones(n_out, np.float32)
        self.rows = np.arange(batch_size)
        self.xb = np.empty((batch_size, n_in), np.float32)

    def epoch(self, X, y):
        """One pass over (X, y) in shuffled full batches; returns the mean training loss."""
        B, lr = self.batch_size, self.lr
        W1, b1, W2, b2 = self.W1, self.b1, self.W2, self.b2
        order = self.rng.permutation(X.shape[0])
        total = 0.0
        n_batches = X.shape[0] // B
        for i in range(n_batches):
            idx = order[i * B:(i + 1) * B]
            xb = np.take(X, idx, axis=0, out=self.xb, mode="clip")
            yb = y[idx]
            h = xb @ W1                                   # forward: h = σ(x·W1 + b1)
            h += b1
            np.negative(h, out=h)
            with np.errstate(over="ignore"):
                np.exp(h, out=h)
            h += 1.0
            np.divide(1.0, h, out=h)
            z = h @ W2                                    # logits
            z += b2
            z -= z.max(axis=1, keepdims=True)             # softmax cross-entropy, fused
            picked = z[self.rows, yb]
            np.exp(z, out=z)
            s = z @ self.ones_out
            total += float(np.log(s).sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / B
            s *= B
            z /= s[:, None]
            z[self.rows, yb] -= 1.0 / B                   # dL/dz = (p − onehot) / B
            np.matmul(h.T, z, out=self.gW2)               # backward
            gb2 = self.ones_batch @ z
            dh = z @ W2.T
            d = np.subtract(1.0, h)
            d *= h
            dh *= d                                       # σ' = h·(1 − h)
            np.matmul(xb.T, dh, out=self.gW1)
            gb1 = self.ones_batch @ dh
            np.multiply(self.gW1, lr, out=self.step1)     # SGD: two passes per weight matrix
            W1 -= self.step1
            np.multiply(self.gW2, lr, out=self.step2)
            W2 -= self.step2
            gb1 *= lr
            b1 -= gb1
            gb2 *= lr
            b2 -= gb2
        return total / n_batches

    def accuracy(self, X, y):
        h = X @ self.W1 + self.b1
        h = 1.0 / (1.0 + np.exp(-h))
        return float(np.mean(np.argmax(h @ self.W2 + self.b2, axis=1) == y))


def measure(epochs=9, data_source="auto"):
    """Per-round seconds of numpynet, the bare loop and the GEMMs alone, and the medians of the ratios.

    numpynet trains as in ``benchmarks.run`` (one ``fit`` over all the epochs); after each of its epochs a callback
    runs one bare epoch and one GEMM-only epoch. The first round is dropped (it warms caches, BLAS threads and the
    allocator).
    """
    import numpynet as nn

    wl = workload("W1")
    (X, y), (Xt, yt), data_name = load_data(wl, data_source)
    X, Xt = np.ascontiguousarray(X, np.float32), np.ascontiguousarray(Xt, np.float32)
    bare = BareW1(batch_size=wl.batch_size, lr=wl.lr)
    model = numpynet_model(wl)
    n_full = X.shape[0] - X.shape[0] % wl.batch_size     # the bare loop drops the last partial batch
    gemm = GemmEpochs(model, n_full, wl.batch_size)
    seconds = {"numpynet": [], "bare": [], "gemm": gemm.seconds}

    class Interleave(nn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seconds["numpynet"].append(logs["seconds"])
            t0 = time.perf_counter()
            bare.epoch(X, y)
            seconds["bare"].append(time.perf_counter() - t0)
            gemm.time_one()

    model.fit(X, y, epochs=epochs, batch_size=wl.batch_size, verbose=0, callbacks=[Interleave()])
    def median_ratio(a, b):
        return statistics.median(x / g for x, g in zip(measured(seconds[a]), measured(seconds[b])))

    return {"data": data_name, "seconds": seconds, "bare_over_gemm": median_ratio("bare", "gemm"),
            "numpynet_over_gemm": median_ratio("numpynet", "gemm"),
            "numpynet_over_bare": median_ratio("numpynet", "bare"),
            "bare_test_accuracy": bare.accuracy(Xt, yt), "numpynet_test_accuracy": model.evaluate(Xt, yt)["accuracy"]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=9, help="rounds (each: one epoch of all three; first dropped)")
    p.add_argument("--data", default="auto", choices=("auto", "fashion", "synthetic"))
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    limits = _limit_blas_threads()
    result = measure(args.epochs, args.data)
    if limits is not None:
        limits.restore_original_limits()
    for name, values in result["seconds"].items():
        print(f"{name:8s} s/epoch: " + " ".join(f"{v:.3f}" for v in values))
    print(f"W1 on {result['data']}, medians of the per-round ratios (first round dropped):")
    print(f"  bare NumPy / GEMMs alone   {result['bare_over_gemm']:.2f}   (the floor of the overhead check)")
    print(f"  numpynet / GEMMs alone     {result['numpynet_over_gemm']:.2f}")
    print(f"  numpynet / bare NumPy      {result['numpynet_over_bare']:.2f}   (what the framework costs)")
    print(f"  test accuracy: bare {result['bare_test_accuracy']:.4f}, numpynet {result['numpynet_test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
