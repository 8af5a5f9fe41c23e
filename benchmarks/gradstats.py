"""What does ``nn.callbacks.GradientStats`` cost? W1 and W2 trained with and without it, side by side.

    python -m benchmarks.gradstats [--workloads W1 W2] [--epochs 6] [--every 1] [--data auto|fashion|synthetic]
                                   [--quick] [--out bench-results/gradstats.json]

For each workload two copies of the same numpynet model (same seed, same data) are trained one epoch at a time,
``fit(..., epochs=e + 1, initial_epoch=e)``, alternating which goes first (ABBA), so that both see the same load on
a shared machine: *plain* without callbacks, *stats* with ``GradientStats(every=...)``. Measured per epoch, first
epoch dropped:

* the wall time of each one-epoch ``fit`` call (the callback runs inside it, after the epoch's last batch);
  ``ratio`` = median over epochs of stats / plain — the number the issue bounds (≤ 1.10) — and the same with the
  process's CPU time (``cpu_ratio``; other processes' load on a shared machine moves it much less than wall time);
* the callback's own time (``GradientStats.seconds``), as a share of the plain epoch — the same cost measured
  directly, without the noise of two separate epochs;
* the statistics pass in training steps: ``gradient_stats`` on one batch against ``train_on_batch`` on the same
  batch, alternated 30 times (median of the ratios) — the figure a loaded machine disturbs least. An epoch of
  n batches then costs 1 + steps / n with the callback (``expected_ratio``).

Everything is float32 with ``THREADS`` BLAS threads, as in :mod:`benchmarks.run`. The two models also end with
identical weights (the statistics pass changes nothing), which is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from . import load_data, workload
from .run import _limit_blas_threads, _loadavg, numpynet_model


def measure(wid, epochs=6, every=1, source="auto", quick=False):
    """Train workload ``wid`` with and without GradientStats, interleaved; returns a dict of the timings."""
    import numpynet as nn

    wl = workload(wid, quick=quick, epochs=epochs)
    (X, y), _, data_name = load_data(wl, source)
    plain, stats = numpynet_model(wl), numpynet_model(wl)
    callback = nn.callbacks.GradientStats(every=every)
    seconds = {"plain": [], "stats": [], "callback": [], "plain_cpu": [], "stats_cpu": []}
    for epoch in range(wl.epochs):
        order = ("plain", "stats") if epoch % 2 == 0 else ("stats", "plain")
        for which in order:
            model = plain if which == "plain" else stats
            start, cpu = time.perf_counter(), time.process_time()
            model.fit(X, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=wl.batch_size, verbose=0,
                      callbacks=[callback] if which == "stats" else None)
            seconds[which].append(time.perf_counter() - start)
            seconds[which + "_cpu"].append(time.process_time() - cpu)
            if which == "stats":
                seconds["callback"].append(callback.seconds)   # its clock restarts with every fit call
    same = all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), stats.get_weights()))
    steps = _stats_in_steps(plain, X[:wl.batch_size], y[:wl.batch_size])
    n_batches = -(-X.shape[0] // wl.batch_size)
    kept = slice(1, None) if wl.epochs > 1 else slice(None)
    ratios = [s / p for s, p in zip(seconds["stats"][kept], seconds["plain"][kept])]
    cpu_ratios = [s / p for s, p in zip(seconds["stats_cpu"][kept], seconds["plain_cpu"][kept])]
    shares = [c / p for c, p in zip(seconds["callback"][kept], seconds["plain"][kept])]
    return {"workload": wid, "title": wl.title, "data": data_name, "n_train": int(X.shape[0]),
            "batch_size": wl.batch_size, "epochs": wl.epochs, "every": every, "seconds": seconds,
            "plain_median_s": statistics.median(seconds["plain"][kept]),
            "stats_median_s": statistics.median(seconds["stats"][kept]),
            "ratio": statistics.median(ratios), "cpu_ratio": statistics.median(cpu_ratios),
            "callback_share": statistics.median(shares),
            "callback_median_s": statistics.median(seconds["callback"][kept]),
            "keys_per_epoch": len(callback.history), "same_weights": same,
            "stats_in_steps": steps, "batches_per_epoch": n_batches, "expected_ratio": 1 + steps / n_batches}


def _stats_in_steps(model, X, y, rounds=30):
    """Median over ``rounds`` of (one statistics pass) / (one training step), on the same batch, alternated."""
    from numpynet.tracing import gradient_stats

    xs, ys = model._prepare(X, y)
    ratios = []
    for _ in range(rounds):
        start = time.perf_counter()
        gradient_stats(model, xs, ys)
        mid = time.perf_counter()
        model.train_on_batch(X, y)
        ratios.append((mid - start) / (time.perf_counter() - mid))
    return statistics.median(ratios)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.gradstats", description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", default=["W1", "W2"], type=str.upper, choices=("W1", "W2", "W3"))
    p.add_argument("--epochs", type=int, default=6, help="epochs per model (the first is dropped)")
    p.add_argument("--every", type=int, default=1, help="GradientStats(every=...)")
    p.add_argument("--data", default="auto", choices=("auto", "fashion", "synthetic"))
    p.add_argument("--quick", action="store_true", help="small data, seconds (harness check)")
    p.add_argument("--out", metavar="JSON", help="also write the results here")
    args = p.parse_args(argv)
    if args.epochs < 1 or args.every < 1:
        p.error("--epochs and --every must be >= 1")
    limits = _limit_blas_threads()
    try:
        results = [measure(w, args.epochs, args.every, args.data, args.quick) for w in args.workloads]
    finally:
        if limits is not None:
            limits.restore_original_limits()
    print(f"GradientStats(every={args.every}) cost, float32, load average {_loadavg()} "
          f"(medians over epochs 2..N, interleaved ABBA):")
    print(f"{'workload':<9}{'data':<15}{'plain s/epoch':>14}{'stats s/epoch':>14}{'ratio':>8}"
          f"{'CPU ratio':>10}{'callback s':>12}{'callback/epoch':>16}{'pass/step':>11}{'expected':>10}  same weights")
    for r in results:
        print(f"{r['workload']:<9}{r['data']:<15}{r['plain_median_s']:>14.3f}{r['stats_median_s']:>14.3f}"
              f"{r['ratio']:>8.3f}{r['cpu_ratio']:>10.3f}{r['callback_median_s']:>12.4f}{r['callback_share']:>15.2%}"
              f"{r['stats_in_steps']:>11.2f}{r['expected_ratio']:>10.4f}  {r['same_weights']}")
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump({"schema": "numpynet-gradstats/1", "results": results}, f, indent=2)
        print(f"wrote {args.out}")
    return 0 if all(r["same_weights"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
