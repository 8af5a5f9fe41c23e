"""Optimizers: how a gradient becomes a weight update (Keras 3 formulas, Keras 3 names and defaults).

The model calls two methods::

    optimizer.build(params)                  # per-parameter state: zeros_like(w) for each w, same dtype
    optimizer.apply_gradients(params, grads) # updates every w IN PLACE, then iterations += 1

One step, with η the learning rate at the current step (a float, or a schedule evaluated at ``iterations``)
and t = ``iterations`` + 1:

1. clipping of the gradients — at most one of ``clipnorm`` (each g scaled to ‖g‖ ≤ c), ``global_clipnorm``
   (all g scaled together so that √Σ‖g‖² ≤ c) or ``clipvalue`` (each entry clipped to [−c, c]);
2. decoupled weight decay, if ``weight_decay`` = λ is set: w ← w − η·λ·w (before the update, as Keras 3);
3. the optimizer's update (formulas in each class);
4. (constraints are the model's business, after the step.)

State is kept per parameter, in the parameter's dtype (float32 weights get float32 state), and never shared:
``get_state()`` names it ``"<slot>/<index>"`` (``"momentum/0"``, ``"velocity/3"`` ...) plus ``"iterations"``
(and Nadam's ``"u_product"``), which is what :func:`numpynet.io.save_model` writes next to the weights.

The hot path works in place (``np.multiply(g, η, out=buf)``, ``w -= buf``) on scratch buffers that are reused
from step to step, so a step allocates no arrays; the caller's gradient arrays are never written.

**Pre-scaled steps** (plain and momentum SGD). An update that is linear in the gradient lets the model fold the
learning rate into its small batch-sized arrays before the weight-gradient product: with s = −η from
:meth:`Optimizer.gradient_scale`, a Dense layer computes G = xᵀ·(s·dz) = s·g (a pass over batch × units, not over
the in × units kernel), and :meth:`Optimizer.apply_scaled_gradients` adds the penalty gradients itself, in Keras's
order (dR/dW added to the data gradient, then the update). Plain SGD is then ``w += G`` (one pass instead of two),
and with L2 (dR/dW = k·w) w ← (1 − η·k)·w + G (two passes instead of four); momentum is m ← μ·m + G − η·k·w,
w ← w + m (five passes instead of six). :meth:`Optimizer.apply_gradients` stays the textbook step; the tests compare
the two. Every other optimizer, and SGD with clipping or weight decay, answers ``gradient_scale() is None``.

``lr`` is accepted everywhere as an alias of ``learning_rate``; ``learning_rate`` may be a float, a
:class:`~numpynet.schedules.LearningRateSchedule` or a schedule spec string::

    >>> get("sgd(lr=0.1, momentum=0.9)")
    >>> get("adam(learning_rate='exponential_decay(1e-3, 1000, 0.5)')")
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from . import schedules as _schedules
from .errors import DataError, ShapeError, SpecError
from .spec import Configurable, Registry, check_bool, check_number, to_json

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Nadam", "RMSprop", "Adagrad", "registry", "get", "serialize"]


class _DefaultRate(float):
    """The default learning rate in a signature: equal to the plain float, but recognisable by type, so that
    ``sgd(learning_rate=0.01, lr=0.1)`` can be refused even though 0.01 is also the default value."""

    def __repr__(self):
        return float.__repr__(self)


# Keras's defaults: 0.01 for SGD, 0.001 for the adaptive optimizers
_LR_DEFAULT_SGD = _DefaultRate(0.01)
_LR_DEFAULT = _DefaultRate(0.001)


def _check_rate(owner, arg, value):
    """A decay rate / momentum in [0, 1) (at 1 nothing would ever be forgotten)."""
    value = check_number(owner, arg, value, minimum=0)
    if value >= 1:
        raise SpecError(f"{owner}: argument '{arg}' must be in [0, 1), got {value!r}")
    return value


class Optimizer(Configurable):
    """Base class: learning rate (float or schedule), clipping, weight decay, state bookkeeping.

    Subclasses declare their per-parameter slots in :meth:`slot_initial_values` and implement :meth:`_update`
    (one parameter, in place) and, if they need per-step constants, :meth:`_begin_step`.
    """

    #: scratch buffers (each as large as the largest parameter) the update of one parameter needs
    n_scratch = 1

    def __init__(self, learning_rate=_LR_DEFAULT, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, lr=None):
        owner = type(self).__name__
        if lr is not None:
            if not isinstance(learning_rate, _DefaultRate):
                raise SpecError(f"{owner}: 'lr' is an alias of 'learning_rate'; give one of them, not both "
                                f"(got learning_rate={learning_rate!r}, lr={lr!r})")
            learning_rate = lr
        self.learning_rate = learning_rate
        self.weight_decay = check_number(owner, "weight_decay", weight_decay, minimum=0, allow_none=True)
        self.clipnorm = check_number(owner, "clipnorm", clipnorm, minimum=0, allow_none=True)
        self.clipvalue = check_number(owner, "clipvalue", clipvalue, minimum=0, allow_none=True)
        self.global_clipnorm = check_number(owner, "global_clipnorm", global_clipnorm, minimum=0, allow_none=True)
        given = [name for name, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                      ("global_clipnorm", global_clipnorm)) if v is not None]
        if len(given) > 1:
            raise SpecError(f"{owner}: only one of 'clipnorm', 'clipvalue' and 'global_clipnorm' can be set "
                            f"(as in Keras), got {' and '.join(given)}")
        self.iterations = 0
        self.built = False
        self._slots = {}            # slot name -> [array per parameter]
        self._shapes = None         # parameter shapes the state was built for
        self._dtypes = None
        self._pending_state = None  # set_state() before build(): applied by build()
        self._scratch = None        # per parameter: tuple of scratch views (not state; rebuilt on demand)
        self._reset_scalars()

    # ------------------------------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate as configured: a float or a :class:`~numpynet.schedules.LearningRateSchedule`
        (for the value used at the next step, see :meth:`learning_rate_at`). Assigning a float, a schedule or a
        schedule spec string replaces it (what ``LearningRateScheduler`` does each epoch)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        owner = type(self).__name__
        if isinstance(value, _schedules.LearningRateSchedule):
            self._learning_rate = value
        elif isinstance(value, (str, dict)):
            try:
                self._learning_rate = _schedules.get(value)
            except SpecError as exc:
                raise SpecError(f"{owner}: argument 'learning_rate' must be a number or a schedule spec: {exc}") \
                    from None
        else:
            self._learning_rate = check_number(owner, "learning_rate", value, minimum=0)

    @property
    def lr(self):
        """Alias of :attr:`learning_rate`."""
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    def learning_rate_at(self, step=None):
        """η used by the update at ``step`` (default: the next update, i.e. at ``iterations``), as a float."""
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            return float(lr(self.iterations if step is None else step))
        return lr

    # ------------------------------------------------------------------------------------------ configuration
    def get_config(self):
        """Constructor arguments (``learning_rate`` as a float or the schedule's spec string; never ``lr``)."""
        config = {}
        for name in inspect.signature(type(self).__init__).parameters:
            if name in ("self", "lr"):
                continue
            value = getattr(self, name)
            if name == "learning_rate" and isinstance(value, _schedules.LearningRateSchedule):
                value = str(value)
            config[name] = value
        return config

    # ------------------------------------------------------------------------------------------ state
    def slot_initial_values(self):
        """``{slot name: initial value}`` of the per-parameter state arrays this optimizer keeps (in order)."""
        return {}

    def _reset_scalars(self):
        """Reset step-level scalar state (Nadam's running product); called with a fresh build."""

    def _scalar_state(self):
        return {}

    def _set_scalar_state(self, values):
        pass

    def build(self, params):
        """Create the state for ``params`` (a list of float ndarrays, the trainable weights in a fixed order).

        Calling it again for weights of the same shapes keeps the state (converted to the weights' dtype, e.g.
        after ``model.to_dtype``); for a different set of weights it starts afresh (``iterations`` = 0).
        """
        params = self._check_params(params)
        shapes = [w.shape for w in params]
        if self._shapes is not None and shapes != self._shapes:
            self._slots = {}
            self.iterations = 0
            self._reset_scalars()
        slots = {}
        for name, initial in self.slot_initial_values().items():
            old = self._slots.get(name, ())
            slots[name] = [_slot_array(old[i] if i < len(old) else None, w, initial) for i, w in enumerate(params)]
        self._slots = slots
        self._shapes = shapes
        self._dtypes = [w.dtype for w in params]
        self._scratch = None
        self.built = True
        if self._pending_state is not None:
            pending, self._pending_state = self._pending_state, None
            self._load_slots(pending)
        return self

    @staticmethod
    def _check_params(params):
        params = list(params)
        for i, w in enumerate(params):
            if not isinstance(w, np.ndarray) or not np.issubdtype(w.dtype, np.floating):
                raise DataError(f"optimizer: parameter {i} must be a float ndarray (updated in place), got "
                                f"{type(w).__name__}" + (f" of dtype {w.dtype}" if isinstance(w, np.ndarray) else ""))
        return params

    def _slot_keys(self):
        n = len(self._shapes or ())
        return [f"{name}/{i}" for name in self.slot_initial_values() for i in range(n)]

    def get_state(self):
        """``{"iterations": ..., "<slot>/<i>": array, ...}``: copies of everything needed to resume training."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name, value in self._scalar_state().items():
            state[name] = np.array(value, dtype=np.float64)
        for name, arrays in self._slots.items():
            for i, a in enumerate(arrays):
                state[f"{name}/{i}"] = a.copy()
        for key, value in (self._pending_state or {}).items():
            state.setdefault(key, value.copy())
        return state

    def set_state(self, state):
        """Restore what :meth:`get_state` returned (values are copied into the existing state arrays).

        May be called before :meth:`build`; the slot arrays are then checked and applied when it is built.
        """
        state = dict(state)
        owner = type(self).__name__
        if "iterations" not in state:
            raise DataError(f"{owner}.set_state: the state has no 'iterations' entry; keys: {sorted(state)}")
        iterations = np.asarray(state.pop("iterations"))
        if iterations.shape != () or not np.issubdtype(iterations.dtype, np.integer) or int(iterations) < 0:
            raise DataError(f"{owner}.set_state: 'iterations' must be a non-negative integer, got {iterations!r}")
        scalars = {}
        for name in self._scalar_state():
            if name not in state:
                raise DataError(f"{owner}.set_state: the state has no {name!r} entry")
            scalars[name] = float(np.asarray(state.pop(name)))
        slot_names = set(self.slot_initial_values())
        unknown = [k for k in state if k.rpartition("/")[0] not in slot_names or not k.rpartition("/")[2].isdigit()]
        if unknown:
            raise DataError(f"{owner}.set_state: unknown entries {sorted(unknown)}; this optimizer keeps "
                            f"{sorted(slot_names) or 'no per-parameter state'} (as '<slot>/<index>')")
        slots = {k: np.asarray(v) for k, v in state.items()}
        if self.built:
            self._load_slots(slots)
        else:
            self._pending_state = {k: v.copy() for k, v in slots.items()}
        self.iterations = int(iterations)
        self._set_scalar_state(scalars)

    def _load_slots(self, slots):
        owner = type(self).__name__
        expected = self._slot_keys()
        missing = [k for k in expected if k not in slots]
        extra = [k for k in slots if k not in expected]
        if missing or extra:
            raise DataError(f"{owner}.set_state: state does not fit {len(self._shapes)} parameters"
                            + (f"; missing {missing}" if missing else "") + (f"; unexpected {extra}" if extra else ""))
        for key in expected:
            name, _, index = key.rpartition("/")
            target = self._slots[name][int(index)]
            if slots[key].shape != target.shape:
                raise ShapeError(f"{owner}.set_state: {key!r} has shape {slots[key].shape}, the parameter has "
                                 f"shape {target.shape}")
            target[...] = slots[key]

    def __getstate__(self):
        # scratch buffers are views into shared flat arrays: not worth pickling/copying, rebuilt on demand
        state = self.__dict__.copy()
        state["_scratch"] = None
        return state

    # ------------------------------------------------------------------------------------------ the step
    def apply_gradients(self, params, grads):
        """One step: clip → weight decay → update, each ``params[i]`` in place with ``grads[i]``; then
        ``iterations`` += 1. ``grads`` are not modified. Builds the state on first use."""
        params, grads, _ = self._step_arguments("apply_gradients", params, grads)
        if not params:
            return   # Keras: nothing to apply is a no-op (iterations unchanged)
        lr = self.learning_rate_at()
        t = self.iterations + 1
        global_scale = self._global_clip_scale(grads) if self.global_clipnorm else None
        constants = self._begin_step(lr, t)
        decay = 1.0 - lr * self.weight_decay if self.weight_decay else None
        scratch = self._scratch if self._scratch is not None else self._make_scratch(params)
        for i, (w, g) in enumerate(zip(params, grads)):
            if g is None:
                continue     # Keras skips variables without a gradient (no decay, no update)
            if not isinstance(g, np.ndarray):
                g = np.asarray(g)
            bufs = scratch[i]
            g = self._clip(g, w.dtype, bufs[-1], global_scale)
            if decay is not None:
                w *= decay
            self._update(i, w, g, bufs, constants)
        self.iterations = t

    # ------------------------------------------------------------------------------------------ pre-scaled step
    def gradient_scale(self):
        """The factor s the model may fold into its gradients before this step, or None (the default).

        Not None only where the step is exact with gradients handed over as G = s·g and the penalties left out
        (:meth:`apply_scaled_gradients`): SGD, with or without (Nesterov) momentum, s = −η at the current step.
        Clipping needs the unscaled gradient and is not linear; decoupled weight decay is kept on the textbook path.
        """
        return None

    def apply_scaled_gradients(self, params, scaled_grads, scale, penalties=None):
        """The step of :meth:`apply_gradients`, from pre-scaled data gradients.

        ``scaled_grads[i]`` is G = s·g with g the gradient of the *data* loss and s = :meth:`gradient_scale` (the
        caller multiplied a small factor of the product by s, e.g. dz in dW = xᵀ·(s·dz)); ``penalties[i]`` is the
        regularizer of ``params[i]`` or None. The update is the one :meth:`apply_gradients` makes with the gradient
        g + dR/dW — the penalty's gradient added to the data gradient first, as Keras — but computed as s·(g +
        dR/dW) = G + s·dR/dW, with fewer passes over the weights. ``scaled_grads`` are not modified.
        """
        params, grads, penalties = self._step_arguments("apply_scaled_gradients", params, scaled_grads, penalties)
        if not params:
            return
        expected = self.gradient_scale()
        if expected is None or scale != expected:
            raise DataError(f"{type(self).__name__}.apply_scaled_gradients: the gradients were scaled by {scale!r}, "
                            "this step takes "
                            + ("no pre-scaled gradients" if expected is None else f"{expected!r} (−η of this step)")
                            + "; use apply_gradients with unscaled gradients")
        scratch = self._scratch if self._scratch is not None else self._make_scratch(params)
        for i, (w, G, reg) in enumerate(zip(params, grads, penalties)):
            if G is None:
                continue
            if not isinstance(G, np.ndarray):
                G = np.asarray(G)
            bufs = scratch[i]
            if G.dtype != w.dtype:
                np.copyto(bufs[-1], G, casting="same_kind")
                G = bufs[-1]
            self._update_scaled(i, w, G, reg, scale, bufs)
        self.iterations += 1

    def _update_scaled(self, i, w, G, reg, scale, bufs):
        raise NotImplementedError(f"{type(self).__name__} takes no pre-scaled gradients")

    def _step_arguments(self, method, params, grads, penalties=None):
        """``(params, grads, penalties)`` as aligned lists, checked (:meth:`_check_step`) and the state built, before
        a step writes anything; empty lists for a step with nothing to apply."""
        params = params if isinstance(params, list) else list(params)
        grads = grads if isinstance(grads, list) else list(grads)
        penalties = [None] * len(params) if penalties is None else list(penalties)
        if len(params) != len(grads) or len(params) != len(penalties):
            raise ShapeError(f"{type(self).__name__}.{method}: {len(params)} parameters but {len(grads)} gradients"
                             + (f" and {len(penalties)} penalties" if len(penalties) != len(params) else "")
                             + "; they must be aligned")
        if params:
            if not self.built:
                self.build(params)
            self._check_step(method, params, grads)
        return params, grads, penalties

    def _check_step(self, method, params, grads):
        """Everything is checked before anything is written, so a bad call leaves weights and state untouched."""
        owner = f"{type(self).__name__}.{method}"
        if len(params) != len(self._shapes):
            raise ShapeError(f"{owner}: the optimizer was built for {len(self._shapes)} parameters, "
                             f"got {len(params)}; call optimizer.build(params) to start fresh state for new weights")
        rebuild = self._slots.keys() != self.slot_initial_values().keys()   # a hyper-parameter changed (momentum)
        for i, (w, g, shape, dtype) in enumerate(zip(params, grads, self._shapes, self._dtypes)):
            if not isinstance(w, np.ndarray):
                raise DataError(f"{owner}: parameter {i} must be an ndarray (updated in place), "
                                f"got {type(w).__name__}")
            if w.shape != shape:
                raise ShapeError(f"{owner}: parameter {i} has shape {w.shape}, the optimizer state "
                                 f"was built for {shape}")
            if g is not None and (g.shape if isinstance(g, np.ndarray) else np.shape(g)) != shape:
                raise ShapeError(f"{owner}: gradient {i} has shape {np.shape(g)}, parameter {i} "
                                 f"has shape {shape}")
            rebuild = rebuild or w.dtype != dtype
        if rebuild:
            self.build(params)   # same shapes: keeps the state, converts its dtype / adds new slots

    def _make_scratch(self, params):
        """Per dtype, ``n_scratch + 1`` flat buffers as large as the largest parameter; each parameter gets
        reshaped views of them (the last one holds the clipped gradient)."""
        sizes = {}
        for w in params:
            sizes[w.dtype] = max(sizes.get(w.dtype, 0), w.size)
        flats = {dt: [np.empty(n, dtype=dt) for _ in range(self.n_scratch + 1)] for dt, n in sizes.items()}
        self._scratch = [tuple(f[:w.size].reshape(w.shape) for f in flats[w.dtype]) for w in params]
        return self._scratch

    def _global_clip_scale(self, grads):
        """c / √Σ‖g‖² when that norm exceeds c, else 1 (NaN for a non-finite norm, as Keras)."""
        total = 0.0
        for g in grads:
            if g is not None:
                flat = np.ravel(g)
                total += float(np.dot(flat, flat))
        norm = math.sqrt(total)
        if not math.isfinite(norm):
            return math.nan
        return 1.0 if norm <= self.global_clipnorm else self.global_clipnorm / norm

    def _clip(self, g, dtype, buf, global_scale):
        """The gradient to use: ``g`` itself, or its clipped copy in ``buf`` (never written into ``g``)."""
        if g.dtype != dtype:
            np.copyto(buf, g, casting="same_kind")
            g = buf
        scale = 1.0
        if self.clipnorm:
            flat = np.ravel(g)
            norm = math.sqrt(float(np.dot(flat, flat)))
            if not norm <= self.clipnorm:          # also NaN/inf norms, as Keras: g·c / max(‖g‖, c)
                scale = self.clipnorm / max(norm, self.clipnorm)
        elif global_scale is not None:
            scale = global_scale
        elif self.clipvalue:
            np.clip(g, -self.clipvalue, self.clipvalue, out=buf)
            return buf
        if scale != 1.0:
            np.multiply(g, scale, out=buf)
            return buf
        return g

    def _begin_step(self, lr, t):
        """Per-step constants handed to every :meth:`_update` of this step (default: the learning rate)."""
        return lr

    def _update(self, i, w, g, bufs, constants):
        raise NotImplementedError(f"{type(self).__name__} must implement _update")


def _slot_array(old, w, initial):
    """Keep ``old`` (same shape, converted to ``w``'s dtype) or make a fresh array like ``w`` filled with
    ``initial``."""
    if old is not None and old.shape == w.shape:
        return old if old.dtype == w.dtype else old.astype(w.dtype)
    return np.zeros_like(w) if initial == 0 else np.full_like(w, initial)


registry = Registry("optimizer", Optimizer)


# ---------------------------------------------------------------------------------------------------- SGD

@registry.register("sgd", "gradient_descent")
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Plain (μ = 0):   w ← w − η·g
    Momentum:        m ← μ·m − η·g;  w ← w + m
    Nesterov:        m ← μ·m − η·g;  w ← w + μ·m − η·g

    State: ``momentum`` (only when μ > 0), shape of w. ``momentum`` μ in [0, 1).

    Pre-scaled step (:meth:`apply_scaled_gradients`, without clipping or weight decay), G = −η·g the data gradient
    already scaled, P = −η·dR/dW the penalty's (k·w for L2), passes over w-sized arrays in brackets:

        plain, no penalty:   w ← w + G                                     [1; textbook 2]
        plain, dR/dW = k·w:  w ← (1 − η·k)·w + G                           [2; textbook 4 with the penalty]
        plain, other R:      w ← w + (G + P)                               [3]
        momentum:            m ← μ·m + G + P;  w ← w + m                   [3, 5 with L2; textbook 4, 6]
        Nesterov:            m ← μ·m + G + P;  w ← w + μ·m + G + P
    """

    def __init__(self, learning_rate=_LR_DEFAULT_SGD, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        owner = type(self).__name__
        self.momentum = _check_rate(owner, "momentum", momentum)
        self.nesterov = check_bool(owner, "nesterov", nesterov)

    def slot_initial_values(self):
        return {"momentum": 0.0} if self.momentum else {}

    def _update(self, i, w, g, bufs, lr):
        step = bufs[0]
        np.multiply(g, lr, out=step)                  # η·g
        mu = self.momentum
        if not mu:
            w -= step
            return
        m = self._slots["momentum"][i]
        m *= mu
        m -= step                                     # m ← μ·m − η·g
        if self.nesterov:
            w -= step
            np.multiply(m, mu, out=step)
            w += step                                 # w ← w + μ·m − η·g
        else:
            w += m

    def gradient_scale(self):
        """−η of the current step, or None with clipping or weight decay (see :class:`Optimizer`)."""
        if self.clipnorm or self.clipvalue or self.global_clipnorm or self.weight_decay:
            return None
        return -self.learning_rate_at()

    def _update_scaled(self, i, w, G, reg, s, bufs):
        mu = self.momentum
        if not mu:
            k = None if reg is None else reg.linear_factor
            if reg is None:
                w += G                                # w ← w − η·g
            elif k is not None:
                w *= 1.0 + s * k                      # w ← (1 − η·k)·w − η·g  =  w − η·(g + k·w)
                w += G
            else:
                P = reg.scaled_grad(w, s, bufs[0])
                P += G
                w += P                                # w ← w − η·(g + dR/dW)
            return
        P = None if reg is None else reg.scaled_grad(w, s, bufs[0])     # −η·dR/dW, from w before the step
        m = self._slots["momentum"][i]
        m *= mu
        m += G
        if P is not None:
            m += P                                    # m ← μ·m − η·(g + dR/dW)
        if self.nesterov:
            w += G
            if P is not None:
                w += P
            np.multiply(m, mu, out=bufs[0])
            w += bufs[0]                              # w ← w + μ·m − η·(g + dR/dW)
        else:
            w += m


# ---------------------------------------------------------------------------------------------------- Adam

@registry.register("adam")
class Adam(Optimizer):
    """Adam (Kingma & Ba), in Keras's form with ε outside the square root of the *uncorrected* v:

        m ← m + (1 − β₁)·(g − m)            (= β₁·m + (1 − β₁)·g)
        v ← v + (1 − β₂)·(g² − v)
        α = η · √(1 − β₂ᵗ) / (1 − β₁ᵗ)
        w ← w − α · m / (√v + ε)

    With ``amsgrad=True`` v̂ ← max(v̂, v) replaces v in the last line. State: ``momentum`` (m), ``velocity`` (v),
    ``velocity_hat`` (v̂, AMSGrad only). β₁, β₂ in [0, 1), ε >= 0.
    """

    def __init__(self, learning_rate=_LR_DEFAULT, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        self._init_adam(beta_1, beta_2, epsilon, amsgrad)

    def _init_adam(self, beta_1, beta_2, epsilon, amsgrad):
        owner = type(self).__name__
        self.beta_1 = _check_rate(owner, "beta_1", beta_1)
        self.beta_2 = _check_rate(owner, "beta_2", beta_2)
        self.epsilon = check_number(owner, "epsilon", epsilon, minimum=0)
        self.amsgrad = check_bool(owner, "amsgrad", amsgrad)

    def slot_initial_values(self):
        slots = {"momentum": 0.0, "velocity": 0.0}
        if self.amsgrad:
            slots["velocity_hat"] = 0.0
        return slots

    def _begin_step(self, lr, t):
        return lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)

    def _update(self, i, w, g, bufs, alpha):
        m, v = self._slots["momentum"][i], self._slots["velocity"][i]
        buf = bufs[0]
        np.subtract(g, m, out=buf)
        buf *= 1.0 - self.beta_1
        m += buf                                      # m ← m + (1 − β₁)(g − m)
        np.multiply(g, g, out=buf)
        buf -= v
        buf *= 1.0 - self.beta_2
        v += buf                                      # v ← v + (1 − β₂)(g² − v)
        if self.amsgrad:
            v_hat = self._slots["velocity_hat"][i]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.sqrt(v, out=buf)
        buf += self.epsilon
        np.divide(m, buf, out=buf)
        buf *= alpha
        w -= buf                                      # w ← w − α·m/(√v + ε)


@registry.register("adamw", "adam_w")
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): each step first w ← w − η·λ·w (λ =
    ``weight_decay``, default 0.004, required), then the Adam update of :class:`Adam`."""

    def __init__(self, learning_rate=_LR_DEFAULT, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        if weight_decay is None:
            raise SpecError("AdamW: argument 'weight_decay' must be a number >= 0 (AdamW is Adam with weight "
                            "decay), got None")
        Optimizer.__init__(self, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        self._init_adam(beta_1, beta_2, epsilon, amsgrad)


# ---------------------------------------------------------------------------------------------------- Nadam

@registry.register("nadam")
class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), with Keras's momentum-cache schedule:

        u_t = β₁·(1 − ½·0.96ᵗ),  u_{t+1} = β₁·(1 − ½·0.96^{t+1}),  Π_t = u_1···u_t  (kept as state)
        m ← m + (1 − β₁)·(g − m);   v ← v + (1 − β₂)·(g² − v)
        m̂ = u_{t+1}·m / (1 − Π_t·u_{t+1}) + (1 − u_t)·g / (1 − Π_t)
        v̂ = v / (1 − β₂ᵗ)
        w ← w − η · m̂ / (√v̂ + ε)

    State: ``momentum`` (m), ``velocity`` (v) per parameter and the scalar ``u_product`` (Π_t). β₁, β₂ in [0, 1).
    """

    n_scratch = 2

    def __init__(self, learning_rate=_LR_DEFAULT, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        owner = type(self).__name__
        self.beta_1 = _check_rate(owner, "beta_1", beta_1)
        self.beta_2 = _check_rate(owner, "beta_2", beta_2)
        self.epsilon = check_number(owner, "epsilon", epsilon, minimum=0)

    def slot_initial_values(self):
        return {"momentum": 0.0, "velocity": 0.0}

    def _reset_scalars(self):
        self.u_product = 1.0

    def _scalar_state(self):
        return {"u_product": self.u_product}

    def _set_scalar_state(self, values):
        self.u_product = values["u_product"]

    def _begin_step(self, lr, t):
        b1 = self.beta_1
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_next = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        self.u_product = self.u_product * b1 * (1.0 - 0.5 * 0.96 ** t)   # Π_t, the one state change per step
        prod_next = self.u_product * u_next
        return (lr, u_next / (1.0 - prod_next), (1.0 - u_t) / (1.0 - self.u_product), 1.0 / (1.0 - self.beta_2 ** t))

    def _update(self, i, w, g, bufs, constants):
        lr, c_m, c_g, c_v = constants
        m, v = self._slots["momentum"][i], self._slots["velocity"][i]
        buf, buf2 = bufs[0], bufs[1]
        np.subtract(g, m, out=buf)
        buf *= 1.0 - self.beta_1
        m += buf
        np.multiply(g, g, out=buf)
        buf -= v
        buf *= 1.0 - self.beta_2
        v += buf
        np.multiply(m, c_m, out=buf)
        np.multiply(g, c_g, out=buf2)
        buf += buf2                                   # m̂
        np.multiply(v, c_v, out=buf2)                 # v̂
        np.sqrt(buf2, out=buf2)
        buf2 += self.epsilon
        buf /= buf2
        buf *= lr
        w -= buf                                      # w ← w − η·m̂/(√v̂ + ε)


# ---------------------------------------------------------------------------------------------------- RMSprop

@registry.register("rmsprop", "rms_prop")
class RMSprop(Optimizer):
    """RMSprop (Hinton), with ε *inside* the square root as Keras:

        v ← ρ·v + (1 − ρ)·g²
        Δ = η·g / √(v + ε)                  centered: ḡ ← ρ·ḡ + (1 − ρ)·g;  Δ = η·g / √(v − ḡ² + ε)
        w ← w − Δ                           momentum μ > 0: m ← μ·m + Δ;  w ← w − m

    State: ``velocity`` (v), ``momentum`` (m, when μ > 0), ``average_gradient`` (ḡ, when centered).
    ρ, μ in [0, 1), ε >= 0.
    """

    def __init__(self, learning_rate=_LR_DEFAULT, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        owner = type(self).__name__
        self.rho = _check_rate(owner, "rho", rho)
        self.momentum = _check_rate(owner, "momentum", momentum)
        self.epsilon = check_number(owner, "epsilon", epsilon, minimum=0)
        self.centered = check_bool(owner, "centered", centered)

    def slot_initial_values(self):
        slots = {"velocity": 0.0}
        if self.momentum:
            slots["momentum"] = 0.0
        if self.centered:
            slots["average_gradient"] = 0.0
        return slots

    def _update(self, i, w, g, bufs, lr):
        rho = self.rho
        v = self._slots["velocity"][i]
        buf = bufs[0]
        v *= rho
        np.multiply(g, g, out=buf)
        buf *= 1.0 - rho
        v += buf                                      # v ← ρ·v + (1 − ρ)·g²
        if self.centered:
            avg = self._slots["average_gradient"][i]
            avg *= rho
            np.multiply(g, 1.0 - rho, out=buf)
            avg += buf                                # ḡ ← ρ·ḡ + (1 − ρ)·g
            np.multiply(avg, avg, out=buf)
            np.subtract(v, buf, out=buf)
            buf += self.epsilon                       # v − ḡ² + ε
        else:
            np.add(v, self.epsilon, out=buf)          # v + ε
        np.sqrt(buf, out=buf)
        np.divide(g, buf, out=buf)
        buf *= lr                                     # Δ = η·g/√(...)
        if self.momentum:
            m = self._slots["momentum"][i]
            m *= self.momentum
            m += buf
            w -= m
        else:
            w -= buf


# ---------------------------------------------------------------------------------------------------- Adagrad

@registry.register("adagrad")
class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), with ε inside the square root as Keras:

        A ← A + g²        (A starts at ``initial_accumulator_value``, default 0.1)
        w ← w − η·g / √(A + ε)

    State: ``accumulator`` (A). ``initial_accumulator_value`` >= 0, ε >= 0.
    """

    def __init__(self, learning_rate=_LR_DEFAULT, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, lr=None):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, lr)
        owner = type(self).__name__
        self.initial_accumulator_value = check_number(owner, "initial_accumulator_value", initial_accumulator_value,
                                                      minimum=0)
        self.epsilon = check_number(owner, "epsilon", epsilon, minimum=0)

    def slot_initial_values(self):
        return {"accumulator": self.initial_accumulator_value}

    def _update(self, i, w, g, bufs, lr):
        acc = self._slots["accumulator"][i]
        buf = bufs[0]
        np.multiply(g, g, out=buf)
        acc += buf                                    # A ← A + g²
        np.add(acc, self.epsilon, out=buf)
        np.sqrt(buf, out=buf)
        np.divide(g, buf, out=buf)
        buf *= lr
        w -= buf                                      # w ← w − η·g/√(A + ε)


# ---------------------------------------------------------------------------------------------------- lookup

def get(identifier):
    """An optimizer from a spec string (``"adam(lr=1e-3)"``), a ``{"name", "config"}`` dict, a class or an
    instance (returned as is: its state goes with it)."""
    return registry.get(identifier)


def serialize(obj):
    """``{"name": ..., "config": {...}}`` of an optimizer (JSON-safe; a schedule becomes its spec string)."""
    return to_json(obj)
