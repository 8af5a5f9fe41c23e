"""scikit-learn estimators around numpynet models, and a Dask backend for their grids.

:class:`DFNClassifier` and :class:`DFNRegressor` are ordinary scikit-learn estimators: their parameters are the
DFN's plain values and spec strings, so ``get_params``/``set_params``/``clone`` work and a grid is just a dict of
strings::

    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from numpynet.sklearn import DFNClassifier

    search = GridSearchCV(make_pipeline(StandardScaler(), DFNClassifier(epochs=30, random_state=0)),
                          {"dfnclassifier__regularizer": ["none", "l1(lambd=1e-4)", "l2(lambd=0.01)"]},
                          n_jobs=-1)
    search.fit(X, y)

The same grid leaves the machine on a Dask cluster (``pip install numpynet[dist]``)::

    with dask_backend("tcp://scheduler:8786"):     # or dask_backend() for a LocalCluster on this machine
        search.fit(X, y)

which is ``dask.distributed.Client(address)`` + ``joblib.parallel_config(backend="dask")``. Estimators travel to the
workers by pickle (joblib's and Dask's transport); files on disk are still written by :mod:`numpynet.io`, never
pickled.

Training is the model's own :meth:`~numpynet.model.Sequential.fit`: ``epochs`` passes of shuffled mini-batches of
``batch_size``. With ``early_stopping=True`` a stratified (classifier) ``validation_fraction`` of the data is held
out, training stops once the validation loss has not improved for ``patience`` epochs, and the weights of the
best epoch are restored. With an integer ``random_state`` every fit — serial, in a joblib process or on a Dask
worker — gives the same weights.
"""

from __future__ import annotations

import contextlib
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted

from ..core import callbacks as _callbacks
from ..core.config import as_float_dtype
from ..core.model import DFN, Sequential, dfn_layers
from ..core.spec import check_int, check_number

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _sk_validate_data
except ImportError:  # pragma: no cover - older scikit-learn: the estimator method did the same job
    _sk_validate_data = None

__all__ = ["DFNClassifier", "DFNRegressor", "dask_backend"]


def _validate_data(estimator, X, y="no_validation", **kwargs):
    """``sklearn.utils.validation.validate_data`` (checks X/y, sets or checks ``n_features_in_`` and
    ``feature_names_in_``), with the pre-1.6 method as fallback."""
    if _sk_validate_data is not None:
        return _sk_validate_data(estimator, X, y, **kwargs)
    return estimator._validate_data(X, y, **kwargs)  # pragma: no cover


def _seed_from(random_state):
    """The model seed for a scikit-learn ``random_state``: an int is used as is (so runs repeat exactly),
    None stays None (fresh entropy each fit), a RandomState/Generator is asked for one integer."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(np.iinfo(np.int32).max))
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _keep_params(estimator, params):
    """scikit-learn's constructor rule: keep every argument, unchanged, as the attribute of its name (they are
    validated in ``fit``). ``params`` is the constructor's ``locals()``."""
    for name, value in params.items():
        if name != "self":
            setattr(estimator, name, value)


class _DFNEstimatorBase(BaseEstimator):
    """What the classifier and the regressor share: parameter checks, the training loop, early stopping."""

    # ------------------------------------------------------------------------------------------ parameters
    def _check_params(self):
        """Validate the hyper-parameters at fit time (scikit-learn stores them untouched in ``__init__``)."""
        owner = type(self).__name__
        dims = self.hidden_dims
        if isinstance(dims, numbers.Integral) and not isinstance(dims, bool):
            dims = (dims,)
        if not isinstance(dims, (tuple, list)):
            raise ValueError(f"{owner}: argument 'hidden_dims' must be an int or a tuple of ints, "
                             f"got {self.hidden_dims!r}")
        self._hidden = tuple(check_int(owner, "hidden_dims", h, minimum=1) for h in dims)
        self._epochs = check_int(owner, "epochs", self.epochs, minimum=1)
        self._batch_size = check_int(owner, "batch_size", self.batch_size, minimum=1)
        check_number(owner, "dropout", self.dropout, minimum=0.0, maximum=1.0)
        if self.dropout >= 1.0:
            raise ValueError(f"{owner}: argument 'dropout' must be < 1, got {self.dropout!r}")
        if self.early_stopping not in (True, False):
            raise ValueError(f"{owner}: argument 'early_stopping' must be True or False, got "
                             f"{self.early_stopping!r}")
        check_number(owner, "validation_fraction", self.validation_fraction, minimum=0.0, maximum=1.0, strict=True)
        self._patience = check_int(owner, "patience", self.patience, minimum=0)
        self._verbose = check_int(owner, "verbose", self.verbose, minimum=0, maximum=2)
        self._dtype = as_float_dtype(self.dtype)

    # ------------------------------------------------------------------------------------------ training
    def _train(self, X, y, epochs, stratify=None, early_stopping=False):
        """Run ``epochs`` epochs of ``self.model_.fit`` on (X, y) and record the curves.

        ``y`` is already what the model takes: integer class codes, or float targets (N,) / (N, k).
        """
        callbacks, validation_data = [], None
        if early_stopping:
            X, X_val, y, y_val = self._validation_split(X, y, stratify)
            validation_data = (X_val, y_val)
            callbacks.append(_callbacks.EarlyStopping(monitor="val_loss", patience=self._patience,
                                                      restore_best_weights=True))
        history = self.model_.fit(X, y, epochs=epochs, batch_size=self._batch_size, shuffle=True,
                                  validation_data=validation_data, callbacks=callbacks, verbose=self._verbose)
        self.loss_curve_.extend(history.history.get("loss", []))
        if early_stopping:
            self.validation_loss_curve_.extend(history.history.get("val_loss", []))
            self.best_validation_loss_ = min(self.validation_loss_curve_) if self.validation_loss_curve_ else None
        self.n_iter_ += len(history.epoch)
        return self

    def _validation_split(self, X, y, stratify):
        if X.shape[0] < 2:
            raise ValueError(f"{type(self).__name__}: early_stopping needs at least 2 samples to hold out a "
                             f"validation set, got {X.shape[0]}")
        split_seed = self._seed
        try:
            X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=self.validation_fraction,
                                                        random_state=split_seed, stratify=stratify)
        except ValueError:
            # A class with a single sample cannot be stratified; an unstratified split still works.
            X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=self.validation_fraction,
                                                        random_state=split_seed)
        return X_tr, X_val, y_tr, y_val

    def _start(self):
        """Reset what a fresh fit records; returns the seed this fit uses."""
        self._seed = _seed_from(self.random_state)
        self.loss_curve_ = []
        self.validation_loss_curve_ = []
        self.best_validation_loss_ = None
        self.n_iter_ = 0
        return self._seed

    def _predict_raw(self, X):
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, reset=False, dtype=self._dtype, ensure_min_samples=1)
        return self.model_.predict(X)


class DFNClassifier(ClassifierMixin, _DFNEstimatorBase):
    """A deep feed-forward network classifier (:class:`numpynet.DFN`) as a scikit-learn estimator.

    Model: ``Dense(h, activation)`` for every ``h`` in ``hidden_dims`` (each followed by ``Dropout(dropout)``
    when ``dropout > 0``), then a linear ``Dense(n_classes)``, trained with the fused softmax cross-entropy

        p = softmax(z),   L = −(1/N) Σ_n log p[n, y_n] + Σ_kernels R(W),   dL/dz = (p − onehot(y)) / N

    where ``R`` is ``regularizer`` (a spec string such as ``"l2(lambd=0.01)"``, or ``"none"``/None) on every
    kernel. Binary problems use two softmax outputs, so ``predict_proba`` is (n_samples, n_classes) in both cases.

    Parameters (stored unchanged, validated in ``fit``): ``hidden_dims`` int or tuple of ints; ``activation``,
    ``optimizer``, ``regularizer``, ``init_w`` spec strings of their families; ``dropout`` in [0, 1);
    ``epochs`` passes over the data per ``fit``; ``batch_size``; ``early_stopping`` with ``validation_fraction``
    and ``patience``; ``random_state`` (int for repeatable fits); ``verbose`` 0/1/2 as ``model.fit``;
    ``dtype`` "float64" (default, exact and repeatable) or "float32" (faster).

    Fitted attributes: ``classes_``, ``n_features_in_`` (and ``feature_names_in_`` for DataFrames), ``model_``
    (the trained :class:`numpynet.DFN`), ``n_iter_`` (epochs run), ``loss_curve_`` (training loss per epoch),
    ``validation_loss_curve_`` and ``best_validation_loss_`` (with early stopping).
    """

    def __init__(self, hidden_dims=(100,), activation="relu", optimizer="adam(lr=1e-3)", regularizer=None,
                 dropout=0.0, epochs=20, batch_size=32, early_stopping=False, validation_fraction=0.1, patience=5,
                 init_w="glorot_uniform", random_state=None, verbose=0, dtype="float64"):
        _keep_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------------------------------ helpers
    def _check_targets(self, y):
        check_classification_targets(y)
        kind = type_of_target(y, input_name="y")
        if kind not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__} supports binary and multiclass targets; "
                             f"got a {kind!r} target")

    def _build(self, n_classes):
        self.model_ = DFN(hidden_dims=self._hidden, n_classes=n_classes, activation=self.activation,
                          optimizer=self.optimizer, regularizer=self.regularizer, init_w=self.init_w,
                          dropout=float(self.dropout), metrics=(), seed=self._seed, dtype=self._dtype)

    # ------------------------------------------------------------------------------------------ API
    def fit(self, X, y):
        """Train a fresh network for ``epochs`` epochs on (X, y); labels may be of any type (strings too)."""
        self._check_params()
        X, y = _validate_data(self, X, y, reset=True, dtype=self._dtype, y_numeric=False)
        self._check_targets(y)
        encoder = LabelEncoder().fit(y)
        if encoder.classes_.size < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; the data has only one "
                             f"class: {encoder.classes_[0]!r}")
        self.classes_ = encoder.classes_
        self._start()
        self._build(self.classes_.size)
        codes = encoder.transform(y)
        return self._train(X, codes, self._epochs, stratify=codes, early_stopping=self.early_stopping)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y), continuing the current network (a new one on the first call).
        ``early_stopping`` does not apply here: the caller decides when to stop.

        ``classes`` (every label that will ever appear) is required on the first call, as in scikit-learn's
        other incremental estimators; later calls may omit it or must repeat the same set.
        """
        first = not hasattr(self, "model_")
        if first and classes is None:
            raise ValueError(f"{type(self).__name__}.partial_fit: 'classes' must be passed on the first call "
                             f"(every label that will appear in any batch)")
        self._check_params()
        X, y = _validate_data(self, X, y, reset=first, dtype=self._dtype, y_numeric=False)
        self._check_targets(y)
        if first:
            encoder = LabelEncoder().fit(np.asarray(classes))
            if encoder.classes_.size < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes, got classes={classes!r}")
            self.classes_ = encoder.classes_
            self._start()
            self._build(self.classes_.size)
        else:
            if classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
                raise ValueError(f"{type(self).__name__}.partial_fit: classes={classes!r} differs from the "
                                 f"classes of the first call {self.classes_!r}")
            encoder = LabelEncoder()
            encoder.classes_ = self.classes_
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(f"{type(self).__name__}.partial_fit: labels {unseen!r} are not in classes "
                             f"{self.classes_!r}")
        codes = encoder.transform(y)
        return self._train(X, codes, 1, stratify=codes)

    def predict_proba(self, X):
        """Softmax probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return np.asarray(self._predict_raw(X), dtype=np.float64)

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class label for each sample."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class DFNRegressor(RegressorMixin, _DFNEstimatorBase):
    """A feed-forward network regressor: ``Dense(h, activation)`` for every ``h`` in ``hidden_dims`` and a
    linear ``Dense(n_outputs)``, trained on the mean squared error

        L = (1/N) Σ_n mean_k (ŷ[n, k] − y[n, k])² + Σ_kernels R(W),   dL/dŷ = 2 (ŷ − y) / (N·K)

    (``loss`` may name another regression loss of :mod:`numpynet.losses`). ``y`` may be (n_samples,) or
    (n_samples, n_outputs); ``predict`` returns the same shape. Targets are used as given: scale them (e.g.
    ``TransformedTargetRegressor(..., transformer=StandardScaler())``) when they are far from unit size.

    Parameters and fitted attributes as :class:`DFNClassifier` (``n_outputs_`` instead of ``classes_``).
    """

    def __init__(self, hidden_dims=(100,), activation="relu", optimizer="adam(lr=1e-3)", regularizer=None,
                 dropout=0.0, epochs=20, batch_size=32, early_stopping=False, validation_fraction=0.1, patience=5,
                 init_w="glorot_uniform", random_state=None, verbose=0, dtype="float64", loss="mse"):
        _keep_params(self, locals())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _build(self, n_outputs):
        layers = dfn_layers(self._hidden, n_outputs, activation=self.activation, regularizer=self.regularizer,
                            init_w=self.init_w, dropout=float(self.dropout))
        self.model_ = Sequential(layers, seed=self._seed, dtype=self._dtype, name="dfn_regressor")
        self.model_.compile(optimizer=self.optimizer, loss=self.loss, metrics=[])

    def _targets(self, y):
        y = np.asarray(y, dtype=self._dtype)
        self._y_1d = y.ndim == 1
        return y

    def fit(self, X, y):
        """Train a fresh network for ``epochs`` epochs on (X, y)."""
        self._check_params()
        X, y = _validate_data(self, X, y, reset=True, dtype=self._dtype, multi_output=True, y_numeric=True)
        y = self._targets(y)
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._start()
        self._build(self.n_outputs_)
        return self._train(X, y, self._epochs, early_stopping=self.early_stopping)

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing the current network (a new one on the first call);
        ``early_stopping`` does not apply here."""
        first = not hasattr(self, "model_")
        self._check_params()
        X, y = _validate_data(self, X, y, reset=first, dtype=self._dtype, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=self._dtype)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            self._targets(y)
            self.n_outputs_ = n_outputs
            self._start()
            self._build(n_outputs)
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"{type(self).__name__}.partial_fit: y has {n_outputs} outputs, the network was "
                             f"started with {self.n_outputs_}")
        return self._train(X, y, 1)

    def predict(self, X):
        """Predicted targets: (n_samples,) when fitted on a 1-d ``y``, else (n_samples, n_outputs)."""
        out = np.asarray(self._predict_raw(X), dtype=np.float64)
        return out[:, 0] if self._y_1d else out


# ---------------------------------------------------------------------------------------------------- Dask

class _InlineArgumentsClient:
    """A ``dask.distributed.Client`` for joblib that declines joblib's *automatic* scatter; everything else (a
    ``scatter=[X, y]`` broadcast included) is the wrapped client's own.

    joblib's Dask backend scatters every argument larger than 1 kB (X, y, each CV split's index arrays) to *one*
    worker and passes the tasks futures of it. Scattered data has no recipe: when the worker holding the only copy
    dies, the scheduler forgets it and cancels every task that needs it, so one lost worker can fail the whole grid
    (reproduced with a 2-worker LocalCluster: the scheduler logs "caused the cluster to lose scattered data, which
    can't be recovered" and ``search.fit`` raises ``FutureCancelledError``). Broadcasting it instead is not enough:
    a broadcast that meets the dying worker fails or hangs in its replication. Declined (no future), an argument
    travels inside its task, as joblib sends every small one, and Dask simply reruns a lost task on another worker.
    """

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def scatter(self, data, broadcast=False, **kwargs):
        if broadcast:          # joblib's scatter=[...]: one copy on every worker, before the first task
            return self._client.scatter(data, broadcast=True, **kwargs)
        return _no_future()    # joblib's automatic scatter (asynchronous): "no future" = send the argument itself


async def _no_future():
    return None


@contextlib.contextmanager
def dask_backend(scheduler=None, scatter=None, resilient=True, **cluster_kwargs):
    """Run joblib-parallel work (``GridSearchCV(..., n_jobs=-1)``, ``cross_val_score``) on a Dask cluster.

    ``scheduler``: the address of a running scheduler (``"tcp://host:8786"``), a ``dask.distributed.Client``,
    or None for a fresh ``LocalCluster`` on this machine (``cluster_kwargs`` go to it; the defaults are one
    process per core, one thread each, loopback only, no dashboard). Yields the client.

    This is ``joblib.parallel_config(backend="dask", client=..., scatter=...)``. ``resilient=True`` (default) hands
    joblib the client through :class:`_InlineArgumentsClient`, which declines joblib's automatic scatter of large
    arguments, so that a grid survives a worker dying mid-run; ``resilient=False`` passes the client as it is
    (joblib's own behaviour). ``scatter``: the large arguments the tasks share, e.g. ``[X, y]`` (the very objects
    later passed to ``search.fit(X, y)``): joblib broadcasts them to every worker once, before the first task,
    instead of shipping them inside every task; every worker keeping a copy, a dying one loses nothing. Dask is
    optional: ``pip install numpynet[dist]``; the workers need numpynet installed (they unpickle the estimators).

    >>> with dask_backend("tcp://scheduler:8786", scatter=[X, y]):
    ...     GridSearchCV(DFNClassifier(random_state=0), {"regularizer": ["none", "l2(lambd=0.01)"]}).fit(X, y)
    """
    try:
        import joblib
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(f"the Dask backend needs dask.distributed ({exc}); install it with "
                          f"pip install 'numpynet[dist]'") from None
    cluster = client = None
    owns_client = not isinstance(scheduler, Client)
    try:
        if scheduler is None:
            options = {"processes": True, "threads_per_worker": 1, "host": "127.0.0.1", "dashboard_address": None}
            options.update(cluster_kwargs)
            cluster = LocalCluster(**options)
            client = Client(cluster)
        elif isinstance(scheduler, Client):
            client = scheduler
        else:
            client = Client(scheduler)
        with joblib.parallel_config(backend="dask", client=_InlineArgumentsClient(client) if resilient else client,
                                    scatter=scatter):
            yield client
    finally:
        if client is not None and owns_client:
            client.close()
        if cluster is not None:
            cluster.close()
