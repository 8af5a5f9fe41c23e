"""Wall time of one scikit-learn grid over regularizer spec strings: serial, joblib ``n_jobs=2``, a 2-worker Dask
LocalCluster. ``python -m benchmarks.grid`` (needs the ``dist`` extra). The three must give the same results.

Grid: DFNClassifier(hidden_dims=(64,), epochs=30, batch_size=32, adam(lr=0.005)) on scikit-learn's digits (1,797
images), regularizer in none / l1(lambd=1e-4) / l2(lambd=0.01) / l2(lambd=0.1), 3-fold stratified CV: 12 fits.
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from numpynet.sklearn import DFNClassifier, dask_backend

GRID = {"regularizer": ["none", "l1(lambd=1e-4)", "l2(lambd=0.01)", "l2(lambd=0.1)"]}


def search(n_jobs=None):
    return GridSearchCV(DFNClassifier(hidden_dims=(64,), epochs=30, batch_size=32, optimizer="adam(lr=0.005)",
                                      random_state=0),
                        GRID, cv=StratifiedKFold(3, shuffle=True, random_state=0), n_jobs=n_jobs)


def timed(label, fit):
    start = time.perf_counter()
    result = fit()
    seconds = time.perf_counter() - start
    print(f"{label:<28} {seconds:6.2f} s   best {result.best_params_}  score {result.best_score_:.4f}")
    return result, seconds


def main():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    serial, _ = timed("serial", lambda: search().fit(X, y))
    joblib2, _ = timed("joblib n_jobs=2", lambda: search(n_jobs=2).fit(X, y))
    timed("joblib n_jobs=2, warm workers", lambda: search(n_jobs=2).fit(X, y))   # loky keeps its processes
    with dask_backend(n_workers=2, threads_per_worker=1, processes=True):
        dask2, _ = timed("dask LocalCluster, 2 workers", lambda: search(n_jobs=-1).fit(X, y))
    for other in (joblib2, dask2):
        assert other.best_params_ == serial.best_params_
        np.testing.assert_array_equal(other.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"])
    print("same best parameters and scores in all three")


if __name__ == "__main__":
    main()
