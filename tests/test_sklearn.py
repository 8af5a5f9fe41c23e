"""numpynet.sklearn: scikit-learn's own estimator checks, label handling, determinism, partial_fit, pickling,
Pipeline / cross_val_score / GridSearchCV over spec strings, and joblib processes giving the serial results."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from numpynet.errors import SpecError
from numpynet.sklearn import DFNClassifier, DFNRegressor

# Small and fast instances for scikit-learn's checks; big enough to clear their accuracy/R² thresholds.
FAST_CLASSIFIER = DFNClassifier(hidden_dims=(16,), optimizer="adam(lr=0.01)", epochs=30, batch_size=16,
                                random_state=0)
FAST_REGRESSOR = DFNRegressor(hidden_dims=(16,), optimizer="adam(lr=0.01)", epochs=40, batch_size=16,
                              random_state=0)

# Checks expected to fail, with the reason (scikit-learn marks them xfail). Empty: every check passes.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks([FAST_CLASSIFIER, FAST_REGRESSOR],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------------- data

@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=120, centers=3, n_features=4, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def weights_of(estimator):
    return estimator.model_.get_weights()


def assert_same_weights(a, b):
    wa, wb = weights_of(a), weights_of(b)
    assert len(wa) == len(wb)
    for x, y in zip(wa, wb):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------------------- labels

def test_string_labels_multiclass(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    clf = clone(FAST_CLASSIFIER).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    pred = clf.predict(X)
    assert pred.dtype == names.dtype and set(pred) <= set(names)
    assert clf.score(X, names) > 0.95
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], pred)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_binary_labels_keep_their_values():
    X, y = make_classification(n_samples=150, n_features=6, n_informative=3, random_state=1)
    labels = np.where(y == 1, 7, -3)
    clf = clone(FAST_CLASSIFIER).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, [-3, 7])
    assert clf.predict_proba(X).shape == (150, 2)
    assert set(np.unique(clf.predict(X))) == {-3, 7}
    assert clf.score(X, labels) > 0.85
    assert clf.n_features_in_ == 6


def test_one_class_and_multilabel_targets_are_refused():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        clone(FAST_CLASSIFIER).fit(X, np.ones(10))
    with pytest.raises(ValueError, match="1d array"):
        clone(FAST_CLASSIFIER).fit(X, np.eye(2)[np.arange(10) % 2])
    with pytest.raises(ValueError, match="Unknown label type"):
        clone(FAST_CLASSIFIER).fit(X, np.linspace(0, 1, 10))


def test_regressor_single_and_multi_output():
    X, y = make_regression(n_samples=200, n_features=5, n_targets=3, noise=1.0, random_state=0)
    y = (y - y.mean(axis=0)) / y.std(axis=0)
    reg = clone(FAST_REGRESSOR).set_params(epochs=80).fit(X, y)
    assert reg.n_outputs_ == 3 and reg.predict(X).shape == (200, 3)
    assert reg.score(X, y) > 0.9
    reg1 = clone(FAST_REGRESSOR).set_params(epochs=80).fit(X, y[:, 0])
    assert reg1.n_outputs_ == 1 and reg1.predict(X).shape == (200,)
    assert reg1.score(X, y[:, 0]) > 0.9
    col = clone(FAST_REGRESSOR).fit(X, y[:, :1])
    assert col.predict(X).shape == (200, 1)


def test_unfitted_estimators_raise_not_fitted(blobs):
    X, _ = blobs
    with pytest.raises(NotFittedError):
        DFNClassifier().predict(X)
    with pytest.raises(NotFittedError):
        DFNRegressor().predict(X)


def test_wrong_feature_count_at_predict(blobs):
    X, y = blobs
    clf = clone(FAST_CLASSIFIER).set_params(epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="4 features"):
        clf.predict(X[:, :3])


# ---------------------------------------------------------------------------------------------------- params

def test_params_are_stored_unchanged_and_validated_in_fit(blobs):
    X, y = blobs
    clf = DFNClassifier(hidden_dims=[8, 4], regularizer="l2(lambd=0.01)", epochs=0)   # no error yet
    assert clf.get_params()["hidden_dims"] == [8, 4] and clf.get_params()["regularizer"] == "l2(lambd=0.01)"
    with pytest.raises(ValueError, match="'epochs' must be an integer >= 1"):
        clf.fit(X, y)
    bad = [("batch_size", 0), ("dropout", 1.0), ("validation_fraction", 1.5), ("patience", -1),
           ("hidden_dims", (4, 0)), ("hidden_dims", "wide"), ("early_stopping", "yes"), ("dtype", "int32")]
    for key, value in bad:
        with pytest.raises(ValueError, match=key):
            clone(FAST_CLASSIFIER).set_params(**{key: value}).fit(X, y)
    with pytest.raises(SpecError, match="l3"):
        clone(FAST_CLASSIFIER).set_params(regularizer="l3(lambd=0.1)").fit(X, y)
    with pytest.raises(SpecError):
        clone(FAST_CLASSIFIER).set_params(optimizer="adam(lr=__import__('os'))").fit(X, y)


def test_spec_strings_reach_the_model(blobs):
    X, y = blobs
    clf = DFNClassifier(hidden_dims=(8, 5), activation="tanh", optimizer="sgd(lr=0.05, momentum=0.9)",
                        regularizer="l1(lambd=1e-3)", dropout=0.25, epochs=2, random_state=3).fit(X, y)
    dense = [layer for layer in clf.model_.layers if type(layer).__name__ == "Dense"]
    assert [d.units for d in dense] == [8, 5, 3]
    assert [str(d.activation) for d in dense[:2]] == ["tanh", "tanh"]
    assert all(str(d.regularizers["W"]) == "l1(lambd=0.001)" for d in dense)
    assert sum(type(layer).__name__ == "Dropout" for layer in clf.model_.layers) == 2
    assert clf.model_.optimizer.spec_name == "sgd"
    assert clf.model_.dtype == np.float64
    f32 = clone(clf).set_params(dtype="float32").fit(X, y)
    assert f32.model_.get_weights()[0].dtype == np.float32
    assert f32.predict_proba(X).dtype == np.float64


# ---------------------------------------------------------------------------------------------------- determinism

def test_integer_random_state_repeats_exactly(blobs):
    X, y = blobs
    a = clone(FAST_CLASSIFIER).set_params(dropout=0.2, epochs=5).fit(X, y)
    b = clone(FAST_CLASSIFIER).set_params(dropout=0.2, epochs=5).fit(X, y)
    assert_same_weights(a, b)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    c = clone(FAST_CLASSIFIER).set_params(dropout=0.2, epochs=5, random_state=1).fit(X, y)
    assert not np.array_equal(weights_of(a)[0], weights_of(c)[0])


def test_refit_restarts_from_scratch(blobs):
    X, y = blobs
    clf = clone(FAST_CLASSIFIER).set_params(epochs=3)
    first = clf.fit(X, y).predict_proba(X)
    second = clf.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3


def test_random_state_instance_is_accepted(blobs):
    X, y = blobs
    a = clone(FAST_CLASSIFIER).set_params(epochs=2, random_state=np.random.RandomState(5)).fit(X, y)
    b = clone(FAST_CLASSIFIER).set_params(epochs=2, random_state=np.random.RandomState(5)).fit(X, y)
    assert_same_weights(a, b)


# ---------------------------------------------------------------------------------------------------- partial_fit

def test_partial_fit_epochs_equal_fit_epochs(blobs):
    X, y = blobs
    full = clone(FAST_CLASSIFIER).set_params(epochs=3).fit(X, y)
    inc = clone(FAST_CLASSIFIER)
    for _ in range(3):
        inc.partial_fit(X, y, classes=np.unique(y))
    assert inc.n_iter_ == 3
    assert_same_weights(full, inc)
    np.testing.assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=0, atol=0)


def test_partial_fit_class_rules(blobs):
    X, y = blobs
    clf = clone(FAST_CLASSIFIER)
    with pytest.raises(ValueError, match="'classes' must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y != 2], y[y != 2], classes=[0, 1, 2])   # a batch without class 2 is fine
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    clf.partial_fit(X, y)                                        # later calls may omit classes
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="differs"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    assert clf.n_iter_ == 2


def test_regressor_partial_fit_equals_fit():
    X, y = make_regression(n_samples=80, n_features=3, noise=0.5, random_state=2)
    y = y / y.std()
    full = clone(FAST_REGRESSOR).set_params(epochs=2).fit(X, y)
    inc = clone(FAST_REGRESSOR).partial_fit(X, y).partial_fit(X, y)
    assert_same_weights(full, inc)
    with pytest.raises(ValueError, match="outputs"):
        inc.partial_fit(X, np.c_[y, y])


# ---------------------------------------------------------------------------------------------------- early stopping

def test_early_stopping_stops_and_restores_the_best_epoch():
    # Few noisy samples and a wide network: the validation loss turns up quickly and stays up.
    X, y = make_classification(n_samples=80, n_features=40, n_informative=2, flip_y=0.3, random_state=0)
    clf = DFNClassifier(hidden_dims=(128,), optimizer="adam(lr=0.01)", epochs=300, early_stopping=True,
                        validation_fraction=0.25, patience=5, random_state=0).fit(X, y)
    assert clf.n_iter_ < 300
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == len(clf.loss_curve_)
    best = int(np.argmin(clf.validation_loss_curve_))
    assert clf.n_iter_ == best + 1 + 5                     # stopped `patience` epochs after the best one
    assert clf.best_validation_loss_ == min(clf.validation_loss_curve_)
    # the restored weights are the best epoch's: re-evaluating the held-out split reproduces its loss
    again = clone(clf).set_params(epochs=best + 1, early_stopping=True, patience=10**6).fit(X, y)
    assert_same_weights(clf, again)
    # partial_fit trains on everything it is given: the caller decides when to stop
    inc = clone(clf).partial_fit(X, y, classes=[0, 1])
    assert inc.n_iter_ == 1 and inc.validation_loss_curve_ == []


# ---------------------------------------------------------------------------------------------------- pickling

def test_fitted_estimators_pickle(blobs):
    X, y = blobs
    for est, target in ((clone(FAST_CLASSIFIER).set_params(epochs=3), y),
                        (clone(FAST_REGRESSOR).set_params(epochs=3), X[:, 0] * 2.0)):
        est.fit(X, target)
        copy = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(copy.predict(X), est.predict(X))
        assert_same_weights(est, copy)
        if hasattr(est, "classes_"):
            copy.partial_fit(X, target)    # the unpickled model (optimizer state included) keeps training
            est.partial_fit(X, target)
            assert_same_weights(est, copy)


# ---------------------------------------------------------------------------------------------------- model selection

def test_pipeline_and_cross_val_score(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), DFNClassifier(hidden_dims=(32,), epochs=20, random_state=0))
    scores = cross_val_score(pipe, X[:600], y[:600], cv=StratifiedKFold(3))
    assert scores.shape == (3,) and scores.min() > 0.75 and scores.mean() > 0.8


def overfitting_problem():
    """100 samples, 2 informative features among 100: an unregularized wide network memorises the training folds
    (CV accuracy ~0.7), a moderate L2 penalty generalizes clearly better (~0.85) and a huge one leaves the
    network unable to fit anything (chance level)."""
    X, y = make_classification(n_samples=100, n_features=100, n_informative=2, n_redundant=0, flip_y=0.0,
                               class_sep=2.0, random_state=0)
    return X, y


REG_GRID = {"dfnclassifier__regularizer": ["none", "l2(lambd=0.1)", "l2(lambd=10.0)"]}


def make_search(n_jobs=None):
    pipe = make_pipeline(StandardScaler(), DFNClassifier(hidden_dims=(64,), optimizer="adam(lr=0.01)", epochs=100,
                                                         batch_size=16, random_state=0))
    return GridSearchCV(pipe, REG_GRID, cv=StratifiedKFold(4, shuffle=True, random_state=0), n_jobs=n_jobs)


def test_grid_search_over_spec_strings_picks_the_moderate_l2():
    X, y = overfitting_problem()
    search = make_search().fit(X, y)
    scores = dict(zip(search.cv_results_["param_dfnclassifier__regularizer"], search.cv_results_["mean_test_score"]))
    assert search.best_params_ == {"dfnclassifier__regularizer": "l2(lambd=0.1)"}
    assert scores["l2(lambd=0.1)"] > scores["none"] + 0.08
    assert scores["l2(lambd=10.0)"] < 0.7                # far too strong: the network cannot fit the signal
    assert search.best_estimator_.predict(X).shape == y.shape


def test_grid_search_joblib_processes_match_serial():
    X, y = overfitting_problem()
    serial = make_search(n_jobs=None).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)   # loky may warn about the machine's core count
        parallel = make_search(n_jobs=-1).fit(X, y)
    assert parallel.best_params_ == serial.best_params_
    for key in ("mean_test_score", "std_test_score", "split0_test_score", "split3_test_score", "rank_test_score"):
        np.testing.assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key])
    assert_same_weights(parallel.best_estimator_[-1], serial.best_estimator_[-1])


def test_regressor_in_grid_search():
    X, y = make_regression(n_samples=120, n_features=4, noise=5.0, random_state=0)
    y = y / y.std()
    search = GridSearchCV(DFNRegressor(epochs=30, optimizer="adam(lr=0.01)", random_state=0),
                          {"hidden_dims": [(4,), (32,)], "regularizer": ["none", "l2(l2=1e-3)"]},
                          cv=KFold(3), scoring="r2").fit(X, y)
    assert set(search.best_params_) == {"hidden_dims", "regularizer"}
    assert search.best_score_ > 0.8
