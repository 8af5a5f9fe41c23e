"""Grids on a real Dask cluster: a 2-process LocalCluster on the loopback gives the serial grid's best parameters
and scores exactly, and a worker killed mid-grid is survived (the nanny restarts it, Dask reruns its tasks)."""

import os
import signal
import threading
import time

import joblib
import numpy as np
import pytest
from extras import require
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score

from numpynet.sklearn import DFNClassifier, dask_backend

_distributed = require("dask.distributed")
Client, LocalCluster, get_task_stream = _distributed.Client, _distributed.LocalCluster, _distributed.get_task_stream

GRID = {"regularizer": ["none", "l2(lambd=0.01)"], "hidden_dims": [(16,), (32,)]}
TIMEOUT = 180   # seconds any single wait in this module may take before the test fails


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def make_search(epochs=8):
    return GridSearchCV(DFNClassifier(epochs=epochs, batch_size=32, optimizer="adam(lr=0.005)", random_state=0),
                        GRID, cv=StratifiedKFold(3, shuffle=True, random_state=0))


@pytest.fixture(scope="module")
def serial(data):
    return make_search().fit(*data)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster, timeout=f"{TIMEOUT}s") as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        yield cluster, client


def assert_same_grid(a, b):
    assert a.best_params_ == b.best_params_
    assert a.best_score_ == b.best_score_
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split1_test_score", "split2_test_score",
                "rank_test_score"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    for wa, wb in zip(a.best_estimator_.model_.get_weights(), b.best_estimator_.model_.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_joblib_dask_backend_gives_the_serial_grid(data, serial, cluster):
    _, client = cluster
    with get_task_stream(client) as stream, joblib.parallel_backend("dask"):
        on_dask = make_search().fit(*data)
    assert_same_grid(on_dask, serial)
    # the fits really ran on the cluster, on both worker processes
    assert len({task["worker"] for task in stream.data}) == 2


def test_dask_backend_helper_with_a_scheduler_address(data, serial, cluster):
    cl, _ = cluster
    with dask_backend(cl.scheduler_address) as client:     # what `numpynet compare --scheduler ADDRESS` does
        assert len(client.scheduler_info()["workers"]) == 2
        on_dask = make_search().fit(*data)
    assert_same_grid(on_dask, serial)


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")   # the module's cluster holds the default port
def test_dask_backend_helper_starts_and_stops_its_own_cluster(data):
    clf = DFNClassifier(epochs=3, random_state=0)
    expected = cross_val_score(clf, *data, cv=3)
    with dask_backend(n_workers=1) as client:
        scheduler = client.scheduler.address
        assert scheduler.startswith("tcp://127.0.0.1:")
        got = cross_val_score(clf, *data, cv=3)
    np.testing.assert_array_equal(got, expected)
    assert client.status == "closed"


@pytest.mark.parametrize("broadcast", [False, True], ids=["args-in-tasks", "X-y-broadcast"])
def test_worker_killed_mid_grid_is_survived(data, cluster, broadcast):
    """Killed as soon as its first task runs; with plain ``joblib.parallel_backend("dask")`` this fails
    (``FutureCancelledError``: the worker held the only copy of the arguments joblib scattered to it)."""
    _, client = cluster
    client.wait_for_workers(2, timeout=TIMEOUT)
    search = make_search(epochs=40)           # long enough that tasks are still queued after the kill
    expected = make_search(epochs=40).fit(*data)
    outcome = {}

    def run():
        try:
            with dask_backend(client, scatter=list(data) if broadcast else None):
                outcome["search"] = search.fit(*data)
        except BaseException as exc:          # reported to the test thread below
            outcome["error"] = exc

    pids_before = client.run(os.getpid)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    victim = None
    while victim is None and time.monotonic() < deadline and thread.is_alive():
        busy = [addr for addr, tasks in client.processing().items() if tasks]
        victim = busy[0] if busy else None
        time.sleep(0.02)
    assert victim is not None, "no task started on the cluster"
    assert thread.is_alive(), "the grid finished before a worker could be killed"
    os.kill(pids_before[victim], signal.SIGKILL)

    thread.join(TIMEOUT)
    assert not thread.is_alive(), f"the grid did not finish within {TIMEOUT} s after the kill"
    assert "error" not in outcome, f"the grid failed after the worker was killed: {outcome.get('error')!r}"
    assert_same_grid(outcome["search"], expected)
    assert len(outcome["search"].cv_results_["mean_test_score"]) == 4

    # the nanny brought a new process back in place of the killed one
    client.wait_for_workers(2, timeout=TIMEOUT)
    pids_after = client.run(os.getpid)
    assert pids_before[victim] not in pids_after.values()
