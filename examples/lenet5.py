"""LeNet-5 on Fashion-MNIST with the regularization zoo: none, L1, L2, dropout, batch normalization.

    python examples/lenet5.py                       # all five variants, 10,000 training images, 3 epochs
    python examples/lenet5.py --variants none l2 --epochs 5 --n-train 60000
    python examples/lenet5.py --w3                  # reference workload W3: 2,000 images, SGD lr 0.01, batch 32

The network (LeCun et al., 1998, with ReLU and max pooling as is usual today):

    Conv 6@5x5 "same" relu -> MaxPool 2 -> Conv 16@5x5 "valid" relu -> MaxPool 2 -> Flatten
    -> Dense 120 relu -> Dense 84 relu -> Dense 10 (softmax, fused with the cross-entropy)

Fashion-MNIST is looked up by ``numpynet.datasets.load_fashion_mnist`` (``$NUMPYNET_DATA``, ``~/.numpynet``, the
Debian package ``dataset-fashion-mnist``; ``--download`` allows fetching it). Without it the script falls back to
scikit-learn's 8x8 digits and a LeNet with 3x3 kernels (5x5 "valid" kernels do not fit 4x4 feature maps).
"""

import argparse
import time

import numpy as np

import numpynet as nn
from numpynet.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPool2D

VARIANTS = ("none", "l1", "l2", "dropout", "batchnorm")
#: kernel penalties of the l1 / l2 variants (textbook convention: l2 is ½·λ·Σw²)
PENALTY = {"l1": "l1(lambd=1e-4)", "l2": "l2(lambd=1e-3)"}


def load_data(n_train, n_test, download):
    """(X, y), (Xt, yt) as NHWC float32 images in [0, 1], and the dataset's name."""
    try:
        train, test = nn.datasets.load_fashion_mnist(flatten=False, n_train=n_train, n_test=n_test,
                                                     download=download)
        return train, test, "Fashion-MNIST 28x28"
    except nn.DataError as exc:
        print(f"Fashion-MNIST not found ({str(exc).splitlines()[0]}); falling back to the 8x8 digits")
        train, test = nn.datasets.load_digits(flatten=False)
        return train, test, "digits 8x8"


def lenet5(variant, image_size, seed=0):
    """The LeNet-5 Sequential model for one regularization variant (3x3 kernels for tiny images)."""
    k = 5 if image_size >= 16 else 3
    reg = PENALTY.get(variant)
    bn = variant == "batchnorm"

    def conv(filters, padding):
        # With batch norm the convolution's bias is redundant (β shifts the same way) and the ReLU comes after
        # the normalization.
        if bn:
            return [Conv2D(filters, k, padding=padding, use_bias=False), BatchNormalization(), Activation("relu")]
        return [Conv2D(filters, k, padding=padding, activation="relu", kernel_regularizer=reg)]

    def dense(units):
        if bn:
            return [Dense(units, use_bias=False), BatchNormalization(), Activation("relu")]
        layers = [Dense(units, activation="relu", kernel_regularizer=reg)]
        return layers + [Dropout(0.5)] if variant == "dropout" else layers

    layers = (conv(6, "same") + [MaxPool2D(2)] + conv(16, "valid") + [MaxPool2D(2), Flatten()]
              + dense(120) + dense(84) + [Dense(10, kernel_regularizer=reg)])
    return nn.Sequential(layers, seed=seed, name=f"lenet5_{variant}")


def run(variant, data, epochs, batch_size, optimizer, seed=0, verbose=0):
    (X, y), (Xt, yt) = data
    model = lenet5(variant, X.shape[1], seed=seed)
    model.compile(optimizer=optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
    start = time.perf_counter()
    hist = model.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=verbose)
    total = time.perf_counter() - start
    seconds = hist.history["seconds"]
    return {"variant": variant, "train_acc": hist.history["accuracy"][-1],
            "test_acc": model.evaluate(Xt, yt)["accuracy"], "loss": hist.history["loss"][-1],
            "s_per_epoch": float(np.median(seconds)), "total_s": total, "params": model.count_params()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-train", type=int, default=10000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", default="sgd(learning_rate=0.01, momentum=0.9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--download", action="store_true", help="allow downloading Fashion-MNIST")
    parser.add_argument("--w3", action="store_true",
                        help="reference workload W3: 2,000 images, SGD lr 0.01, batch 32, variant none")
    # 1 (default): a progress bar per epoch in a terminal, one line per epoch in a log file; 2: one line per epoch;
    # 0: only the results table. A full run takes minutes, so it is never silent by default.
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0 table only, 1 progress bar (default), 2 one line per epoch")
    args = parser.parse_args(argv)
    if args.w3:
        args.n_train, args.batch_size, args.optimizer, args.variants = 2000, 32, "sgd(lr=0.01)", ["none"]
    train, test, name = load_data(args.n_train, args.n_test, args.download)
    print(f"{name}: {len(train[0])} training and {len(test[0])} test images; optimizer {args.optimizer}, "
          f"batch {args.batch_size}, {args.epochs} epoch{'' if args.epochs == 1 else 's'}, seed {args.seed}")
    header = f"{'variant':<10} {'params':>7} {'loss':>7} {'train acc':>9} {'test acc':>8} {'s/epoch':>8}"

    def row(r):
        return (f"{r['variant']:<10} {r['params']:>7} {r['loss']:>7.4f} {r['train_acc']:>9.4f} "
                f"{r['test_acc']:>8.4f} {r['s_per_epoch']:>8.3f}")

    if not args.verbose:
        print(header)
    results = []
    for variant in args.variants:
        if args.verbose:   # progress goes to stderr; say which network it is about
            print(f"\n{variant}: training", flush=True)
        r = run(variant, (train, test), args.epochs, args.batch_size, args.optimizer, args.seed, args.verbose)
        results.append(r)
        print(row(r) if not args.verbose else f"{variant}: test accuracy {r['test_acc']:.4f}", flush=True)
    if args.verbose:   # the table once more, whole, after the progress lines
        print("\n" + header + "\n" + "\n".join(row(r) for r in results))
    return results


if __name__ == "__main__":
    main()
