"""The three exception types numpynet raises for bad input.

All subclass :class:`ValueError`, so ``except ValueError`` keeps working for users who do not care which.
"""


class SpecError(ValueError):
    """A spec string or object (``"l2(lambd=0.01)"``) that cannot be understood: unknown name or keyword,
    a value of the wrong type or range, or text that is not a plain literal call."""


class ShapeError(ValueError):
    """An array whose shape does not fit what a layer, loss or model expects."""


class DataError(ValueError):
    """Input data that cannot be used: NaN/inf, labels out of range, empty or mismatched arrays,
    or a dataset that cannot be found."""
