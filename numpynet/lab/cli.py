"""The ``numpynet`` command (also ``python -m numpynet``).

    numpynet train     --data digits --hidden 200 --activation sigmoid --optimizer "sgd(lr=0.1)"
                       --regularizer "l2(lambd=0.01)" --epochs 20 --batch-size 64 --seed 0 [--save m.npz]
                       [--plot curves.png] [--grad-stats] [--out DIR]
    numpynet compare   --data auto --preset regularizers [--jobs N] [--scheduler ADDRESS] [--out DIR]
    numpynet compare   --data digits --configs none "l1(lambd=1e-4)" "l2(lambd=0.01)+dropout(0.2)" [--penalty-share]
    numpynet compare   --data auto --preset mobilenet [--width 1] [--epochs 5] [--out DIR]
    numpynet gradcheck --hidden 5 --activation tanh --regularizer "l2(lambd=0.1)"
    numpynet gradcheck --model m.npz

Bad input (an unknown name in a spec, a dataset that is not there, a wrong option) prints one line on stderr and
exits with status 2; ``gradcheck`` exits 1 when a gradient is off.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from ..core.errors import DataError, ShapeError, SpecError
from ..core.progress import plural as _plural

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: gradcheck passes when every parameter's relative error is below this.
GRADCHECK_TOLERANCE = 1e-5


class UsageError(Exception):
    """A command-line mistake found by argparse; reported like the library's errors."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows every option's default, except where there is none to show (None, or off for a flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)   # also for the subcommands (parser_class=_Parser)
        super().__init__(*args, **kwargs)

    # argparse prints the whole usage block and exits; we want one line and our own exit path.
    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive_int(text, expected="a positive integer"):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _n_train(text):
    if text.lower() in ("all", "none"):
        return "all"
    return _positive_int(text, "a positive integer or 'all'")


def _add_data_args(p, default_data):
    from .experiments import DATASETS
    p.add_argument("--data", default=default_data, type=str.lower, choices=DATASETS,
                   help="dataset: auto = Fashion-MNIST when installed, else the bundled digits (default: %(default)s)")
    p.add_argument("--n-train", type=_n_train, default=None, metavar="N",
                   help="number of training images, or 'all'")
    p.add_argument("--validation-split", type=float, default=0.1, metavar="F",
                   help="validation images as a fraction of the training images (default: %(default)s)")


def _add_model_args(p, defaults):
    p.add_argument("--hidden", type=_positive_int, action="append", metavar="UNITS",
                   help=f"units of a hidden layer; repeat for more layers (default: {defaults['hidden']})")
    p.add_argument("--activation", default=defaults["activation"], help="hidden activation spec")
    p.add_argument("--optimizer", default=defaults["optimizer"], help="optimizer spec, e.g. 'adam(lr=1e-3)'")
    p.add_argument("--init", dest="init_w", default=defaults["init_w"], help="kernel initializer spec")
    p.add_argument("--seed", type=int, default=defaults["seed"], help="seed of weights, shuffling and dropout")


def build_parser():
    from .experiments import BASE, PRESETS
    parser = _Parser(prog="numpynet", description="Train, compare and gradient-check NumPy neural networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    base = {"hidden": list(BASE.hidden_dims), "activation": BASE.activation, "optimizer": BASE.optimizer,
            "init_w": BASE.init_w, "seed": BASE.seed}

    p = sub.add_parser("train", help="train one network and report its accuracy",
                       description="Train one feed-forward network, with a progress bar per epoch.")
    _add_data_args(p, "digits")
    _add_model_args(p, base)
    p.add_argument("--regularizer", default="none", help="weight penalty spec, e.g. 'l2(lambd=0.01)'")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate after every hidden layer")
    p.add_argument("--batchnorm", action="store_true", help="batch normalization before every hidden activation")
    p.add_argument("--epochs", type=_positive_int, default=20, help="passes over the training images")
    p.add_argument("--batch-size", type=_positive_int, default=64, help="images per gradient step")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"), help="floating-point type")
    p.add_argument("--save", metavar="PATH", help="save the trained model (.npz)")
    p.add_argument("--plot", metavar="PNG", help="save loss and accuracy curves")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--grad-stats", action="store_true",
                   help="record per-layer gradient statistics (nn.callbacks.GradientStats: gradient norms, data vs "
                        "penalty share, dead/saturated units), print the last epoch's, and write them to run.json "
                        "with a gradient_flow.png figure")
    p.add_argument("--out", metavar="DIR",
                   help="write run.json (configuration, results, per-epoch history) here, and gradient_flow.png "
                        "with --grad-stats (which defaults it to the current directory)")

    p = sub.add_parser("compare", help="train a grid of configurations and compare them",
                       description="Train each configuration (in parallel with --jobs), print a table, and with "
                                   "--out write results.csv, results.json and figures (curves.png, losses.png, "
                                   "weights.png, reg_penalty.png). A configuration is a regularization spec: "
                                   "'none', 'l1(lambd=1e-4)', 'dropout(0.2)', 'batchnorm', or parts joined by '+'. "
                                   "--preset mobilenet is the L1/L2-on-MobileNetV2 experiment (32x32 images; "
                                   "NUMPYNET_FAST=1 shrinks it to seconds).")
    _add_data_args(p, "digits")
    p.add_argument("--n-test", type=_n_train, default=None, metavar="N",
                   help="number of test images, or 'all' (default: the preset's budget, else all)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--configs", nargs="+", metavar="SPEC", help="configurations as regularization specs")
    which.add_argument("--preset", type=str.lower, choices=sorted(PRESETS),
                       help="a named grid: " + "; ".join(f"{k}: {v.description}" for k, v in PRESETS.items()))
    p.add_argument("--hidden", type=_positive_int, action="append", metavar="UNITS",
                   help="override the hidden layer sizes of every configuration (repeat for more layers)")
    p.add_argument("--activation", help="override every configuration's activation")
    p.add_argument("--optimizer", help="override every configuration's optimizer")
    p.add_argument("--seed", type=int, help="override every configuration's seed")
    p.add_argument("--epochs", type=_positive_int, help="epochs (default: the preset's budget for the dataset)")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--width", type=_positive_float, metavar="W",
                   help="channel width of the MobileNetV2 configurations (--preset mobilenet: default 0.5, "
                        "1 = the full network)")
    p.add_argument("--bn-momentum", type=float, metavar="M",
                   help="momentum of every BatchNormalization layer's moving averages (--preset mobilenet: 0.9; "
                        "Keras's default is 0.99)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: one per CPU core, at most one per configuration)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://host:8786")
    p.add_argument("--out", metavar="DIR", help="write results.csv, results.json and PNG figures here")
    p.add_argument("--no-plots", action="store_true", help="with --out, skip the figures")
    p.add_argument("--penalty-share", action="store_true",
                   help="add a 'penalty share' column: the penalty's share ‖g_pen‖/(‖g_data‖ + ‖g_pen‖) of the "
                        "kernels' gradient in the last epoch (records nn.callbacks.GradientStats in every run)")

    p = sub.add_parser("gradcheck", help="check backpropagation against central differences",
                       description="Build a small float64 model (or load one with --model), compare its "
                                   "gradients with central differences on a few samples, print the relative error "
                                   f"per parameter; exit 0 if the worst is below {GRADCHECK_TOLERANCE:g}, else 1.")
    p.add_argument("--model", metavar="PATH", help="check a saved model (.npz) instead of building one")
    _add_model_args(p, dict(base, hidden=[5], activation="tanh"))
    p.add_argument("--regularizer", default="none", help="weight penalty spec")
    p.add_argument("--batchnorm", action="store_true", help="batch normalization before every hidden activation")
    p.add_argument("--samples", type=_positive_int, default=20, help="number of samples (default: %(default)s)")
    p.add_argument("--max-entries", type=_positive_int, default=1000,
                   help="check at most this many entries per parameter (a random subset; default: %(default)s)")
    return parser


# ================================================================================================ commands

def _load(args, budget_n_train=None, budget_n_test=None, **options):
    from .experiments import load_data
    n_train = args.n_train if args.n_train is not None else budget_n_train
    n_test = getattr(args, "n_test", None)
    n_test = n_test if n_test is not None else budget_n_test
    return load_data(args.data, n_train=None if n_train == "all" else n_train,
                     validation_split=args.validation_split, n_test=None if n_test == "all" else n_test, **options)


def cmd_train(args):
    from .experiments import Config, train_config
    config = Config(name="train", hidden_dims=tuple(args.hidden or [200]), activation=args.activation,
                    optimizer=args.optimizer, regularizer=args.regularizer, dropout=args.dropout,
                    batchnorm=args.batchnorm, init_w=args.init_w, epochs=args.epochs, batch_size=args.batch_size,
                    seed=args.seed, dtype=args.dtype)
    if args.plot:
        _require_matplotlib()   # fail before training, not after it
        _check_output_path(args.plot, "--plot", figure=True)
    if args.save:
        _check_output_path(args.save, "--save")
    data = _load(args)
    print(data.describe())
    print(config.describe())
    out_dir = args.out or ("." if args.grad_stats else None)
    out = train_config(config, data, verbose=0 if args.quiet else 1, return_model=True, grad_stats=args.grad_stats)
    row, model = out["row"], out["model"]
    print(f"\ntrained {_plural(row['epochs'], 'epoch')} in {row['seconds']:.1f} s "
          f"({row['seconds_per_epoch']:.2f} s/epoch), "
          f"{row['params']:,} parameters")
    for label, key in (("train", "train_accuracy"), ("validation", "val_accuracy"), ("test", "test_accuracy")):
        if row[key] is not None:
            print(f"{label + ' accuracy':<20} {row[key]:.2%}")
    print(f"{'data loss':<20} {row['data_loss']:.4f}\n{'regularization loss':<20} {row['reg_loss']:.4f}")
    if args.save:
        model.save(args.save)
        print(f"model saved to {args.save}")
    if args.plot:
        from .plots import plot_history
        plot_history(out["history"], args.plot, title=f"{data.name}: {config.spec}")
        print(f"curves saved to {args.plot}")
    if args.grad_stats:
        from ..core.tracing import format_gradient_stats
        print(f"\ngradient statistics of the last epoch (on its last batch):\n{format_gradient_stats(out['history'])}")
    if out_dir is not None:
        print("wrote " + ", ".join(_save_run(out, data, out_dir, gradient_figure=args.grad_stats)))
    return EXIT_OK


def _save_run(out, data, out_dir, gradient_figure=False):
    """Write ``run.json`` (configuration, data, result row, per-epoch history — with the gradient statistics when
    they were recorded) and, with ``gradient_figure``, ``gradient_flow.png`` into ``out_dir``; returns the paths."""
    import json

    from .experiments import _json_default
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "run.json")
    with open(path, "w") as f:
        json.dump({"config": out["config"].to_dict(), "data": data.describe(), "row": out["row"],
                   "history": out["history"]}, f, indent=2, default=_json_default)
        f.write("\n")
    paths = [path]
    if gradient_figure:
        try:
            from .plots import gradient_flow
            figure = os.path.join(out_dir, "gradient_flow.png")
            gradient_flow(out["history"], figure, title=f"Gradient flow: {out['config'].spec}")
            paths.append(figure)
        except ImportError:
            print("gradient_flow.png skipped: matplotlib is not installed (pip install 'numpynet[plot]')",
                  file=sys.stderr)
    return paths


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install 'numpynet[plot]'") from None


def _check_output_path(path, option, figure=False):
    """Refuse, before any training, an output path that cannot be written: a missing directory, a directory as
    the file, or (``figure``) an extension matplotlib cannot save."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path!r}: directory {directory!r} does not exist; create it first")
    if os.path.isdir(target):
        raise UsageError(f"{option} {path!r} is a directory; give a file name")
    if not os.access(directory, os.W_OK):
        raise UsageError(f"{option} {path!r}: directory {directory!r} is not writable")
    if figure:
        from matplotlib.figure import Figure
        formats = Figure().canvas.get_supported_filetypes()
        ext = os.path.splitext(path)[1].lower().lstrip(".")
        if ext and ext not in formats:
            raise UsageError(f"{option} {path!r}: matplotlib cannot write .{ext} files; use one of "
                             f"{', '.join('.' + f for f in sorted(formats))}")


def cmd_compare(args):
    from .experiments import DEFAULT_BUDGET, PRESETS, fast_mode, make_configs, resolve_data_name, run_grid
    data_name = resolve_data_name(args.data)
    report, data_options, n_test, fast = (), {}, None, False
    if args.configs:
        budget = DEFAULT_BUDGET.get(data_name, {})
        configs = make_configs(args.configs)
        epochs = args.epochs or budget.get("epochs")
        configs = [c.replace(epochs=epochs) for c in configs] if epochs else configs
        n_train = budget.get("n_train")
    else:
        preset = PRESETS[args.preset or "regularizers"]
        configs = preset.configs_for(data_name, args.epochs)
        n_train, n_test = preset.n_train_for(data_name), preset.n_test_for(data_name)
        report, data_options = preset.report, dict(preset.data_options)
        fast = preset.fast_budget is not None and fast_mode()
    overrides = {key: value for key, value in (
        ("hidden_dims", tuple(args.hidden) if args.hidden else None), ("activation", args.activation),
        ("optimizer", args.optimizer), ("seed", args.seed), ("batch_size", args.batch_size),
        ("width", args.width), ("bn_momentum", args.bn_momentum)) if value is not None}
    configs = [c.replace(**overrides) for c in configs]
    args.data = data_name
    data = _load(args, budget_n_train=n_train, budget_n_test=n_test, **data_options)
    print(data.describe())
    network = "" if configs[0].architecture == "dfn" else f"{configs[0].architecture} width {configs[0].width:g}, "
    print(f"{len(configs)} configurations, {network}{_plural(configs[0].epochs, 'epoch')} each, "
          f"batch {configs[0].batch_size}"
          f"{' (NUMPYNET_FAST budget)' if fast else ''}; {_where(args, len(configs))}")
    start = time.perf_counter()
    results = run_grid(configs, data, jobs=args.jobs, scheduler=args.scheduler, verbose=1,
                       grad_stats=args.penalty_share)
    print()
    print(results.format())
    for key in report:
        title = ("regularization loss sum(model.losses) after each epoch" if key == "reg_penalty" else key)
        print()
        print(results.format_history(key, title=title))
    print(f"\ngrid finished in {time.perf_counter() - start:.1f} s")
    if args.out:
        plots = not args.no_plots
        if plots:
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                print("figures skipped: matplotlib is not installed (pip install 'numpynet[plot]')",
                      file=sys.stderr)
                plots = False
        paths = results.save(args.out, figures=plots)
        print("wrote " + ", ".join(paths))
    return EXIT_OK


def _where(args, n_configs):
    if args.scheduler:
        return f"on the Dask cluster at {args.scheduler}"
    jobs = args.jobs if args.jobs is not None else min(n_configs, os.cpu_count() or 1)
    return "serially" if jobs == 1 else f"{'all cores' if jobs == -1 else jobs} worker processes"


def cmd_gradcheck(args):
    from ..core import gradcheck
    from .experiments import Config, build_model
    rng = np.random.default_rng(args.seed)
    if args.model:
        from ..core.io import load_model
        model = load_model(args.model)
        if not model.built:
            raise DataError(f"{args.model!r} holds a model that was never built; its input shape is unknown")
        # Any input exercises the same backward code; random pixels in [0, 1] fit every saved model's shape.
        X = rng.uniform(0.0, 1.0, size=(args.samples,) + tuple(model.input_shape[1:]))
        n_out = model.output_shape[-1]
        y = rng.integers(0, n_out, size=args.samples) if n_out > 1 else rng.integers(0, 2, size=args.samples)
        what = f"{args.model} on {args.samples} random inputs"
    else:
        from .datasets import load_digits
        config = Config(name="gradcheck", hidden_dims=tuple(args.hidden or [5]), activation=args.activation,
                        optimizer=args.optimizer, regularizer=args.regularizer, batchnorm=args.batchnorm,
                        init_w=args.init_w, seed=args.seed, dtype="float64")
        (X, y), _ = load_digits(dtype=np.float64)
        X, y = X[:args.samples], y[:args.samples]
        model = build_model(config, 10, X.shape)
        arch = "-".join(str(h) for h in config.hidden_dims)
        what = f"64-{arch}-10 {config.activation}, {config.spec}, on {len(X)} digits samples"
    print(f"gradient check (float64, central differences): {what}")
    counter = _LossCounter(model, args.max_entries)
    print(f"{counter.entries:,} weight entries: {2 * counter.entries:,} loss evaluations", flush=True)
    with counter:
        report = gradcheck.check_model(model, X, y, max_entries=args.max_entries)
    print(report.table())
    ok = float(report) < GRADCHECK_TOLERANCE
    print(f"worst relative error {float(report):.3e}: {'OK' if ok else 'FAILED'} (tolerance {GRADCHECK_TOLERANCE:g})")
    return EXIT_OK if ok else EXIT_FAILED


class _LossCounter:
    """A progress bar over the central differences of ``gradcheck.check_model`` (two loss evaluations per entry).

    ``check_model`` evaluates ``model.compute_loss`` 2·min(size, max_entries) times per trainable weight; this
    counts those calls through a wrapper set on the model *instance* for the duration of the check (gradcheck.py
    offers no progress hook). The bar is drawn only where it can be redrawn in place (a terminal, Jupyter): in a log
    file the one line printed before the check is the whole record.
    """

    def __init__(self, model, max_entries):
        self.model = model
        self.entries = sum(min(layer.params[key].size, max_entries or layer.params[key].size)
                           for layer, key in model._weight_slots() if key in layer.trainable_names)
        self.calls = 0
        self.bar = None

    def __enter__(self):
        from ..core.progress import CurrentStderr, is_interactive
        stream = CurrentStderr()
        total = 2 * self.entries
        if is_interactive(stream) and total:
            import progressbar
            self.bar = progressbar.ProgressBar(
                max_value=total, fd=stream, redirect_stdout=False, is_terminal=True, line_breaks=False,
                widgets=["central differences ", progressbar.Percentage(), " ", progressbar.Bar(), " ",
                         progressbar.ETA()])
            self.bar.start()
            inner = self.model.compute_loss

            def counting(*args, **kwargs):
                self.calls += 1
                if self.calls % 16 == 0 or self.calls >= total:   # redraws cost more than a tiny model's loss
                    self.bar.update(min(self.calls, total))
                return inner(*args, **kwargs)
            self.model.compute_loss = counting
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            del self.model.compute_loss      # the class's method again
            self.bar.finish(dirty=exc[0] is not None)
        return False


COMMANDS = {"train": cmd_train, "compare": cmd_compare, "gradcheck": cmd_gradcheck}


def main(argv=None):
    """Run the command line; returns the exit status (0 ok, 1 gradient check failed, 2 nothing done: bad input,
    an unreadable/unwritable file or a missing package — one line on stderr each)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except (UsageError, SpecError, ShapeError, DataError, ImportError, OSError) as exc:
        print(f"numpynet: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("numpynet: interrupted", file=sys.stderr)
        return 130


def _one_line(exc):
    """The error as one line; a file-system or missing-package problem says so, so that it does not read as a
    mistake in the command line (the exit status is 2 for all of them: nothing was done)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError):
        text = f"cannot access a file: {exc.strerror or text}" + (f": {exc.filename}" if exc.filename else "")
    elif isinstance(exc, ImportError):
        text = f"a package is missing ({exc.name or text}): {text}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
