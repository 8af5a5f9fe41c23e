"""How close can plain NumPy get to its matrix products? W1 and W2 written with no framework at all, timed side by side.

    python -m benchmarks.floor [--workloads W1 W2] [--epochs 9] [--data auto|fashion|synthetic] [--quick]

Each workload is written here as the shortest plain NumPy loop a competent student would write for it, with the
textbook arithmetic numpynet's own layers do, and no checks, callbacks or layers:

* W1 (784-200 sigmoid-10, softmax cross-entropy, plain SGD lr 0.1, batch 64, glorot_uniform): gather the shuffled
  batch, two GEMMs with bias, the sigmoid in four passes, the fused softmax-CE gradient, three backward GEMMs, bias
  gradients as 1ᵀ·dz, and the SGD step (w −= η·g, two passes: NumPy has no fused multiply-add of two arrays).
* W2 (784-300 elu-100 elu-10, he_normal, Keras ``L2(1e-4)`` on every kernel, SGD momentum 0.9 lr 0.01, batch 128):
  the same, with ELU as expm1(min(z, 0)) + max(z, 0) and its derivative min(y, 0) + 1 read off the output, the
  penalty 1e-4·Σw² (one ``dot``) added to the loss, its gradient 2e-4·w added to the kernel's, then Keras's momentum
  step m ← μ·m − η·g, w ← w + m (four passes per weight: η·g, μ·m, m − η·g, w + m).

numpynet trains the same workload with one ``fit``, as in ``benchmarks.run``; after each of its epochs, one epoch of
the bare loop and one epoch of the same matrix products alone (``run.GemmEpochs``) run, so that all three see the
same load; the medians of the per-round ratios are printed.

bare / GEMM is the floor of the "numpynet / its GEMM time" check for a NumPy framework on this machine;
numpynet / bare is what the framework itself costs (issue 15's target: ≤ 0.95, by doing fewer passes than the
textbook loop — the learning rate folded into the batch-sized dz, the penalty into the optimizer step).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from . import SEED, load_data, workload
from .run import GemmEpochs, _limit_blas_threads, measured, numpynet_model


def shuffled_batches(rng, X, y, batch_size, out):
    """(x, y) of each full batch of a fresh permutation, x gathered into the reused buffer ``out``."""
    order = rng.permutation(X.shape[0])
    for i in range(X.shape[0] // batch_size):
        idx = order[i * batch_size:(i + 1) * batch_size]
        yield np.take(X, idx, axis=0, out=out, mode="clip"), y[idx]


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
        total = 0.0
        n_batches = X.shape[0] // B
        for xb, yb in shuffled_batches(self.rng, X, y, B, self.xb):
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


class BareW2:
    """W2's network as bare arrays, trained by :meth:`epoch`: 784-300 elu-100 elu-10, he_normal kernels (truncated
    normal, σ = √(2/fan_in)/0.8796), L2 ``l2``·Σw² on every kernel, SGD with momentum (Keras's form)."""

    def __init__(self, sizes=(784, 300, 100, 10), batch_size=128, lr=0.01, momentum=0.9, l2=1e-4, seed=SEED):
        rng = np.random.default_rng(seed)
        self.rng, self.batch_size, self.lr, self.momentum, self.l2 = rng, batch_size, lr, momentum, l2

        def he_normal(fan_in, fan_out):
            sigma = np.sqrt(2.0 / fan_in) / 0.87962566103423978
            w = rng.normal(0.0, sigma, (fan_in, fan_out))
            while (bad := np.abs(w) > 2 * sigma).any():       # truncated at two standard deviations
                w[bad] = rng.normal(0.0, sigma, int(bad.sum()))
            return w.astype(np.float32)

        self.Ws = [he_normal(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.bs = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.params = [p for pair in zip(self.Ws, self.bs) for p in pair]
        self.grads = [np.empty_like(p) for p in self.params]
        self.moments = [np.zeros_like(p) for p in self.params]
        self.steps = [np.empty_like(p) for p in self.params]
        self.penalty_grads = [np.empty_like(W) for W in self.Ws]
        self.ones_batch, self.ones_out = np.ones(batch_size, np.float32), np.ones(sizes[-1], np.float32)
        self.zeros = [np.zeros((batch_size, n), np.float32) for n in sizes[1:-1]]
        self.rows = np.arange(batch_size)
        self.xb = np.empty((batch_size, sizes[0]), np.float32)

    def epoch(self, X, y):
        """One pass over (X, y) in shuffled full batches; returns the mean training loss (data + penalty)."""
        B, lr, mu, l2 = self.batch_size, self.lr, self.momentum, self.l2
        (W1, W2, W3), (b1, b2, b3) = self.Ws, self.bs
        gW1, gb1, gW2, gb2, gW3, gb3 = self.grads
        zero1, zero2 = self.zeros
        total = 0.0
        n_batches = X.shape[0] // B
        for xb, yb in shuffled_batches(self.rng, X, y, B, self.xb):
            z1 = xb @ W1                                  # forward: h = elu(x·W + b) = expm1(min(z, 0)) + max(z, 0)
            z1 += b1
            h1 = np.minimum(z1, zero1)
            np.expm1(h1, out=h1)
            h1 += np.maximum(z1, zero1)
            z2 = h1 @ W2
            z2 += b2
            h2 = np.minimum(z2, zero2)
            np.expm1(h2, out=h2)
            h2 += np.maximum(z2, zero2)
            z = h2 @ W3                                   # logits
            z += b3
            z -= z.max(axis=1, keepdims=True)             # softmax cross-entropy, fused
            picked = z[self.rows, yb]
            np.exp(z, out=z)
            s = z @ self.ones_out
            data_loss = float(np.log(s).sum(dtype=np.float64) - picked.sum(dtype=np.float64)) / B
            total += data_loss + l2 * sum(float(np.dot(W.ravel(), W.ravel())) for W in self.Ws)
            s *= B
            z /= s[:, None]
            z[self.rows, yb] -= 1.0 / B                   # dL/dz = (p − onehot) / B
            np.matmul(h2.T, z, out=gW3)                   # backward
            np.matmul(self.ones_batch, z, out=gb3)
            dh = z @ W3.T
            d = np.minimum(h2, zero2)                     # elu' = min(y, 0) + 1
            d += 1.0
            dh *= d
            np.matmul(h1.T, dh, out=gW2)
            np.matmul(self.ones_batch, dh, out=gb2)
            dh = dh @ W2.T
            d = np.minimum(h1, zero1)
            d += 1.0
            dh *= d
            np.matmul(xb.T, dh, out=gW1)
            np.matmul(self.ones_batch, dh, out=gb1)
            for W, g, pg in zip(self.Ws, (gW1, gW2, gW3), self.penalty_grads):
                np.multiply(W, 2.0 * l2, out=pg)          # d(l2·Σw²)/dW = 2·l2·W, added to the data gradient
                g += pg
            for p, g, m, step in zip(self.params, self.grads, self.moments, self.steps):
                np.multiply(g, lr, out=step)              # momentum: m ← μ·m − η·g;  w ← w + m
                m *= mu
                m -= step
                p += m
        return total / n_batches

    def accuracy(self, X, y):
        h = X
        for k, (W, b) in enumerate(zip(self.Ws, self.bs)):
            h = h @ W + b
            if k < len(self.Ws) - 1:
                h = np.where(h > 0, h, np.expm1(np.minimum(h, 0)))
        return float(np.mean(np.argmax(h, axis=1) == y))


BARE = {"W1": BareW1, "W2": BareW2}


def bare_model(wl):
    """The bare loop of workload ``wl`` (W1 or W2) with its batch size and optimizer."""
    if wl.id == "W1":
        return BareW1(batch_size=wl.batch_size, lr=wl.lr)
    return BareW2(sizes=(784,) + tuple(wl.hidden) + (10,), batch_size=wl.batch_size, lr=wl.lr, momentum=wl.momentum,
                  l2=wl.l2)


def measure(epochs=9, data_source="auto", wid="W1", quick=False):
    """Per-round seconds of numpynet, the bare loop and the GEMMs alone on workload ``wid`` (W1 or W2), and the
    medians of the ratios. ``quick``: the workload's small ``--quick`` subset (tests), not a measurement.

    numpynet trains as in ``benchmarks.run`` (one ``fit`` over all the epochs); after each of its epochs a callback
    runs one bare epoch and one GEMM-only epoch. The first round is dropped (it warms caches, BLAS threads and the
    allocator).
    """
    import numpynet as nn

    wl = workload(wid, quick=quick)
    (X, y), (Xt, yt), data_name = load_data(wl, data_source)
    X, Xt = np.ascontiguousarray(X, np.float32), np.ascontiguousarray(Xt, np.float32)
    bare = bare_model(wl)
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

    return {"workload": wid, "data": data_name, "seconds": seconds, "bare_over_gemm": median_ratio("bare", "gemm"),
            "numpynet_over_gemm": median_ratio("numpynet", "gemm"),
            "numpynet_over_bare": median_ratio("numpynet", "bare"),
            "bare_test_accuracy": bare.accuracy(Xt, yt), "numpynet_test_accuracy": model.evaluate(Xt, yt)["accuracy"]}


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", default=["W1"], choices=sorted(BARE), type=str.upper,
                   help="workloads to measure, one after the other (default: W1)")
    p.add_argument("--epochs", type=int, default=9, help="rounds (each: one epoch of all three; first dropped)")
    p.add_argument("--data", default="auto", choices=("auto", "fashion", "synthetic"))
    p.add_argument("--quick", action="store_true", help="small subsets: checks the harness, not speed")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")
    limits = _limit_blas_threads()
    results = [measure(args.epochs, args.data, wid, args.quick) for wid in args.workloads]
    if limits is not None:
        limits.restore_original_limits()
    for result in results:
        for name, values in result["seconds"].items():
            print(f"{result['workload']} {name:8s} s/epoch: " + " ".join(f"{v:.3f}" for v in values))
        print(f"{result['workload']} on {result['data']}, medians of the per-round ratios (first round dropped):")
        print(f"  bare NumPy / GEMMs alone   {result['bare_over_gemm']:.2f}   (the floor of the overhead check)")
        print(f"  numpynet / GEMMs alone     {result['numpynet_over_gemm']:.2f}")
        print(f"  numpynet / bare NumPy      {result['numpynet_over_bare']:.2f}   (what the framework costs)")
        print(f"  test accuracy: bare {result['bare_test_accuracy']:.4f}, "
              f"numpynet {result['numpynet_test_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
