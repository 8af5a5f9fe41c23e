"""A self-normalizing network: SELU + lecun_normal + AlphaDropout, trained with Nadam (Klambauer et al., 2017).

    python examples/selu_alphadropout.py                 # Fashion-MNIST (or the 8x8 digits when it is missing)
    python examples/selu_alphadropout.py --epochs 10 --rate 0.1 --mc-samples 50

SELU keeps activations near zero mean and unit variance layer after layer, provided the inputs are standardized
and the weights drawn with variance 1/fan_in (lecun_normal). Plain dropout would break that fixed point (zeros
shift the mean, the 1/(1 − r) scaling inflates the variance); AlphaDropout sets dropped units to SELU's lower
limit α' and applies an affine correction so mean and variance stay put. The script compares the network with
and without AlphaDropout, prints the activation statistics of each hidden layer (at initialization they stay
near (0, 1) however deep the network; training then moves them), and reports the accuracy of MC-dropout
predictions (AlphaDropout kept active at prediction time, averaged over several passes).
"""

import argparse

import numpy as np

import numpynet as nn
from numpynet.layers import AlphaDropout, Dense


def load_data(n_train, n_test, download):
    """Flattened images standardized with the training set's per-pixel mean and standard deviation."""
    try:
        (X, y), (Xt, yt) = nn.datasets.load_fashion_mnist(n_train=n_train, n_test=n_test, download=download)
        name = "Fashion-MNIST"
    except nn.DataError:
        (X, y), (Xt, yt) = nn.datasets.load_digits()
        name = "digits 8x8 (Fashion-MNIST not found)"
    mean, std = X.mean(axis=0), X.std(axis=0) + 1e-3
    return ((X - mean) / std, y), ((Xt - mean) / std, yt), name


def selu_mlp(hidden, rate, seed=0):
    layers = []
    for units in hidden:
        layers.append(Dense(units, activation="selu", kernel_initializer="lecun_normal"))
        if rate > 0:
            layers.append(AlphaDropout(rate))
    layers.append(Dense(10, kernel_initializer="lecun_normal"))
    return nn.Sequential(layers, seed=seed, name=f"selu_alpha{rate}")


def hidden_statistics(model, X):
    """(mean, std) of each SELU layer's output in inference mode: both should stay near (0, 1)."""
    stats, h = [], X
    for layer in model.layers:
        h = layer.forward(h, training=False)
        if isinstance(layer, Dense) and getattr(layer.activation, "spec_name", "") == "selu":
            stats.append((float(h.mean()), float(h.std())))
    return stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, nargs="+", default=[300, 100, 100])
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--optimizer", default="nadam(learning_rate=0.001)")
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--mc-samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--download", action="store_true", help="allow downloading Fashion-MNIST")
    args = parser.parse_args(argv)

    (X, y), (Xt, yt), name = load_data(args.n_train, args.n_test, args.download)
    print(f"{name}: {len(X)} training, {len(Xt)} test samples; hidden {args.hidden}, {args.optimizer}")
    results = {}
    for rate in (0.0, args.rate):
        model = selu_mlp(args.hidden, rate, seed=args.seed)
        model.compile(optimizer=args.optimizer, loss="softmax_cross_entropy", metrics=["accuracy"])
        model.build(X.shape)
        at_init = hidden_statistics(model, X[:2000])
        hist = model.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, validation_data=(Xt, yt),
                         verbose=0)
        def fmt(stats):
            return ", ".join(f"({m:+.2f}, {s:.2f})" for m, s in stats)

        line = (f"AlphaDropout {rate:<4}: train acc {hist.history['accuracy'][-1]:.4f}  "
                f"test acc {hist.history['val_accuracy'][-1]:.4f}  {np.median(hist.history['seconds']):.2f} s/epoch"
                f"\n{'':<19}hidden (mean, std) at initialization: {fmt(at_init)}"
                f"\n{'':<19}hidden (mean, std) after training:   {fmt(hidden_statistics(model, X[:2000]))}")
        if rate > 0 and args.mc_samples:
            p, spread = model.predict(Xt, mc_samples=args.mc_samples, return_std=True)
            winner = p.argmax(axis=1)
            mc_acc = float(np.mean(winner == yt))
            winner_spread = float(np.mean(spread[np.arange(len(winner)), winner]))
            line += (f"\n{'':<19}MC dropout ({args.mc_samples} passes): test acc {mc_acc:.4f}, "
                     f"mean std of the winning class's probability {winner_spread:.4f}")
        print(line)
        results[rate] = hist.history
    return results


if __name__ == "__main__":
    main()
