"""Spec strings: the one safe parser and the registry every family uses.

A *spec* names an object and its arguments the way you would write the constructor call::

    "l2"                      -> L2()
    "l2(lambd=0.01)"          -> L2(lambd=0.01)
    "adam(1e-3, beta_1=0.5)"  -> Adam(1e-3, beta_1=0.5)   (positional args follow the constructor's order)

The text is parsed into a Python syntax tree with :func:`ast.parse` and the tree is *walked*: only a bare name or
a call of a bare name whose arguments are literals (numbers, strings, True/False/None and tuples/lists of them)
is accepted. Nothing is ever evaluated, so ``"__import__('os').system('rm -rf /')"`` is just a ``SpecError``.

Every family (regularizers, activations, losses, ...) owns one :class:`Registry`; its classes inherit
:class:`Configurable`, which gives them ``get_config()``, ``str(obj)`` (a spec that parses back to an equal object)
and equality by configuration.
"""

from __future__ import annotations

import ast
import collections
import difflib
import inspect
import math
import numbers

import numpy as np

from .errors import SpecError

#: Longest spec text accepted; longer input is refused before parsing (it is never a legitimate spec).
MAX_SPEC_LENGTH = 512
#: Deepest nesting of tuples/lists inside an argument.
MAX_NESTING = 4

_NODE_WORDS = {
    ast.Call: "a function call",
    ast.Attribute: "attribute access",
    ast.Name: "a variable name",
    ast.Lambda: "a lambda",
    ast.BinOp: "an arithmetic expression",
    ast.BoolOp: "a boolean expression",
    ast.Compare: "a comparison",
    ast.Subscript: "indexing",
    ast.Dict: "a dict",
    ast.Set: "a set",
    ast.ListComp: "a comprehension",
    ast.GeneratorExp: "a generator",
    ast.JoinedStr: "an f-string",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression",
    ast.Starred: "*-unpacking",
    ast.Await: "await",
}


def _describe(node, text):
    what = _NODE_WORDS.get(type(node), type(node).__name__)
    segment = ast.get_source_segment(text, node) or ""
    return f"{what} ({segment!r})" if segment else what


def _literal(node, text, depth=0):
    """Convert one argument node to a Python value, refusing anything that is not a plain literal."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**18:
                raise SpecError(f"integer {value} is too large in spec {text!r}")
            return value
        raise SpecError(f"only numbers, strings, True/False/None are allowed in a spec; got {value!r} in {text!r}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = node.operand
        if isinstance(operand, ast.Constant) and isinstance(operand.value, (int, float)) \
                and not isinstance(operand.value, bool):
            return -operand.value if isinstance(node.op, ast.USub) else operand.value
    if isinstance(node, (ast.Tuple, ast.List)):
        if depth >= MAX_NESTING:
            raise SpecError(f"tuples/lists nested deeper than {MAX_NESTING} in spec {text!r}")
        items = [_literal(elt, text, depth + 1) for elt in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    raise SpecError(
        f"only literals (numbers, strings, True/False/None, tuples/lists of them) are allowed as spec arguments; "
        f"got {_describe(node, text)} in {text!r}")


def parse_call(text):
    """Parse ``"name(a, b, k=v)"`` into ``(name, args, kwargs)`` without evaluating anything.

    The name is lower-cased (names are case-insensitive). Raises :class:`SpecError` for anything else.
    """
    text, body = _expression(text)
    return _call_of(body, text)


def _expression(text):
    """The stripped ``text`` and the body of its ``ast`` expression tree; a SpecError for anything that is not a
    string of at most MAX_SPEC_LENGTH characters holding one Python expression."""
    if not isinstance(text, str):
        raise SpecError(f"a spec must be a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise SpecError("empty spec string")
    if len(text) > MAX_SPEC_LENGTH:
        raise SpecError(f"spec string is {len(text)} characters long; at most {MAX_SPEC_LENGTH} are accepted")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        detail = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise SpecError(f"cannot parse spec {text!r}: {detail}; expected name or name(arg, key=value, ...)") \
            from None
    return text, tree.body


def _call_of(body, text):
    """``(name, args, kwargs)`` of one expression node: a bare name or a call of one with literal arguments."""
    if isinstance(body, ast.Name):
        return body.id.lower(), (), {}
    if not isinstance(body, ast.Call):
        raise SpecError(f"a spec must be a name or a call such as 'l2(lambd=0.01)'; got {_describe(body, text)}")
    if not isinstance(body.func, ast.Name):
        raise SpecError(f"a spec must call a plain name; got {_describe(body.func, text)} in {text!r}")
    args = tuple(_literal(arg, text) for arg in body.args)
    kwargs = {}
    for kw in body.keywords:
        if kw.arg is None:
            raise SpecError(f"**-unpacking is not allowed in spec {text!r}")
        if kw.arg in kwargs:   # ast.parse accepts f(a=1, a=2); Python would refuse it at compile time
            raise SpecError(f"keyword {kw.arg!r} is given twice in spec {text!r}")
        kwargs[kw.arg] = _literal(kw.value, text)
    return body.func.id.lower(), args, kwargs


#: One term of :func:`parse_terms`: the lower-cased name, positional and keyword arguments, and its own source text.
Term = collections.namedtuple("Term", "name args kwargs text")


def parse_terms(text, known=None):
    """Parse ``"a + b(k=1) + c"`` into a list of :data:`Term` ``(name, args, kwargs, text)``, one per term.

    The text is one expression: a chain of ``+`` at its top level, each term a bare name or a call with literal
    arguments, checked like :func:`parse_call` (a ``+`` inside an argument, as in ``b(1e+4)``, belongs to that
    literal). Nothing is evaluated; ``a - b``, ``a + (b + c)``, ``+a`` or an empty term is a :class:`SpecError`.
    ``known``: the accepted names (lower case); another name is a SpecError naming the closest match.
    """
    if isinstance(text, str) and "+" in (text.strip()[:1], text.strip()[-1:]):   # "+a", "a +": nothing on one side
        raise SpecError(f"empty part in spec {text.strip()[:MAX_SPEC_LENGTH]!r}: a '+' needs a term on each side, "
                        f"e.g. 'a + b(k=1)'")
    text, body = _expression(text)
    nodes = []
    while isinstance(body, ast.BinOp) and isinstance(body.op, ast.Add):   # a + b + c = (a + b) + c
        nodes.append(body.right)
        body = body.left
    nodes.append(body)
    terms = []
    for node in reversed(nodes):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd):
            raise SpecError(f"empty part in spec {text!r}: two '+' in a row; expected e.g. 'a + b(k=1)'")
        name, args, kwargs = _call_of(node, text)
        if known is not None and name not in known:
            close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise SpecError(f"unknown name {name!r} in spec {text!r}.{hint} Known: {', '.join(sorted(known))}")
        terms.append(Term(name, args, kwargs, ast.get_source_segment(text, node)))
    return terms


def parse(text):
    """Parse a spec into ``(name, kwargs)``, e.g. ``parse("l2(lambd=0.01)") == ("l2", {"lambd": 0.01})``.

    Positional arguments, if any, appear in ``kwargs`` under the integer keys 0, 1, ...; a :class:`Registry`
    maps them onto the constructor's parameters.
    """
    name, args, kwargs = parse_call(text)
    out = dict(enumerate(args))
    out.update(kwargs)
    return name, out


def _format_value(value):
    if isinstance(value, Configurable):
        return repr(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"cannot write non-finite value {value!r} into a spec")
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_format_value(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return repr(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return repr(float(value))
    return repr(value)


def format_spec(name, config):
    """Write ``name`` and a config dict as a spec string that :func:`parse` reads back."""
    if not config:
        return name
    return f"{name}(" + ", ".join(f"{k}={_format_value(v)}" for k, v in config.items()) + ")"


# ---------------------------------------------------------------------------------------------------- validation

def check_number(owner, arg, value, *, minimum=None, maximum=None, strict=False, allow_none=False):
    """Validate one real hyper-parameter and return it as a finite float, else raise :class:`SpecError`
    (integers are :func:`check_int`'s: a count is never a float).

    ``strict`` makes the bounds exclusive. The message names the owner, the argument, what was expected and
    what came.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise SpecError(f"{owner}: argument '{arg}' must be a number, got {value!r} ({type(value).__name__})")
    try:
        value = float(value)
    except OverflowError:      # an int such as 10**400 has no float
        value = math.inf if value > 0 else -math.inf
    if not math.isfinite(value):
        raise SpecError(f"{owner}: argument '{arg}' must be finite, got {value!r}")
    if minimum is not None and (value < minimum or (strict and value == minimum)):
        op = ">" if strict else ">="
        raise SpecError(f"{owner}: argument '{arg}' must be {op} {minimum}, got {value!r}")
    if maximum is not None and (value > maximum or (strict and value == maximum)):
        op = "<" if strict else "<="
        raise SpecError(f"{owner}: argument '{arg}' must be {op} {maximum}, got {value!r}")
    return value


def check_int(owner, arg, value, *, minimum=None, maximum=None, allow_none=False):
    """Validate an integer argument (a Python or NumPy integer; not a bool, not a float such as 2.0 or 2.7) and
    return it as ``int``, else raise :class:`SpecError` naming the owner, the argument, the range and the value."""
    if value is None and allow_none:
        return None
    bounds = []
    if minimum is not None:
        bounds.append(f">= {minimum}")
    if maximum is not None:
        bounds.append(f"<= {maximum}")
    kind = "an integer" + (f" {' and '.join(bounds)}" if bounds else "") + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(f"{owner}: argument '{arg}' must be {kind}, got {value!r} ({type(value).__name__})")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise SpecError(f"{owner}: argument '{arg}' must be {kind}, got {value!r}")
    return value


def check_bool(owner, arg, value):
    """Validate a flag: ``True`` or ``False`` (NumPy's bool too), never a truthy stand-in such as ``"no"`` or 1."""
    if isinstance(value, bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    raise SpecError(f"{owner}: argument '{arg}' must be True or False, got {value!r} ({type(value).__name__})")


def check_seed(owner, value, arg="seed"):
    """A seed: None (fresh entropy) or a non-negative integer, as ``np.random.default_rng`` accepts."""
    return check_int(owner, arg, value, minimum=0, allow_none=True)


def check_choice(owner, arg, value, choices):
    """Validate that ``value`` is one of ``choices`` (strings compared case-insensitively)."""
    if isinstance(value, str):
        lowered = value.lower()
        for choice in choices:
            if isinstance(choice, str) and choice.lower() == lowered:
                return choice
    elif value in choices:
        return value
    raise SpecError(f"{owner}: argument '{arg}' must be one of {list(choices)}, got {value!r}")


# ---------------------------------------------------------------------------------------------------- objects

class Configurable:
    """Mixin for everything a spec can name.

    Subclasses store each constructor argument as an attribute of the same name (Keras's ``get_config``
    convention), so the default :meth:`get_config` can read them back. ``str(obj)`` is the spec with the arguments
    that differ from their defaults; ``obj == other`` compares type and configuration.
    """

    #: canonical registered name, set by :meth:`Registry.register`
    spec_name: str = ""

    def get_config(self):
        config = {}
        for param in inspect.signature(type(self).__init__).parameters.values():
            if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            config[param.name] = getattr(self, param.name)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _non_default_config(self):
        params = inspect.signature(type(self).__init__).parameters
        out = {}
        for key, value in self.get_config().items():
            default = params[key].default if key in params else inspect.Parameter.empty
            if default is inspect.Parameter.empty or not _same(value, default):
                out[key] = value
        return out

    def __str__(self):
        return format_spec(self.spec_name or type(self).__name__.lower(), self._non_default_config())

    def __repr__(self):
        return f"<{type(self).__name__} {self}>"

    def __eq__(self, other):
        return type(self) is type(other) and _same(self.get_config(), other.get_config())

    __hash__ = object.__hash__


def _same(a, b):
    if isinstance(a, Configurable) or isinstance(b, Configurable):
        return str(a) == str(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def to_json(obj):
    """``{"name": ..., "config": {...}}`` with JSON-safe values (nested objects become spec strings)."""
    if obj is None:
        return None

    def clean(value):
        if isinstance(value, Configurable):
            return str(value)
        if isinstance(value, tuple):
            return [clean(v) for v in value]
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return {"name": obj.spec_name, "config": clean(obj.get_config())}


def _is_str(value):
    return isinstance(value, str)


class Registry:
    """Name -> class table of one family, with aliases, case-insensitive lookup and helpful errors.

    >>> regularizers.get("L2(lambd=0.01)")        # a spec string
    >>> regularizers.get({"name": "l2", "config": {"lambd": 0.01}})   # what save_model writes
    >>> regularizers.get(L2(lambd=0.01))          # an instance passes through
    """

    def __init__(self, family, base, allow_none=False):
        self.family = family
        self.base = base
        self.allow_none = allow_none
        self._table = {}       # lower-case name or alias -> class
        self._canonical = {}   # class -> canonical name

    def register(self, name, *aliases):
        """Class decorator: ``@registry.register("l1l2", "l1_l2", "elastic_net")``."""
        def decorate(cls):
            cls.spec_name = name
            self._canonical[cls] = name
            for key in (name, *aliases):
                self._table[key.lower()] = cls
            return cls
        return decorate

    def name_of(self, cls):
        """The canonical name ``cls`` was registered under (None if it was not: a subclass does not inherit it)."""
        return self._canonical.get(cls)

    def names(self):
        """Canonical names, sorted."""
        return sorted(set(self._canonical.values()))

    def aliases(self):
        """Every accepted name (canonical and aliases), sorted."""
        return sorted(self._table)

    def lookup(self, name):
        """The class registered under ``name`` (case-insensitive), else a :class:`SpecError` with suggestions."""
        cls = self._table.get(name.lower())
        if cls is None:
            close = difflib.get_close_matches(name.lower(), list(self._table), n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise SpecError(f"unknown {self.family} {name!r}.{hint} Known: {', '.join(self.names())}")
        return cls

    def __contains__(self, name):
        return isinstance(name, str) and name.lower() in self._table

    def build(self, name, args=(), kwargs=None):
        """Instantiate ``name`` with positional ``args`` and keyword ``kwargs``, checking every keyword."""
        kwargs = dict(kwargs or {})
        cls = self.lookup(name)
        params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
        accepts_var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
        named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
        explain = getattr(cls, "explain_positional", None)   # a class that says why it takes keywords only
        if args and explain is not None:
            raise SpecError(f"{self.family} {explain(name, tuple(args))}")
        if len(args) > len(positional):
            raise SpecError(f"{self.family} {cls.spec_name!r} takes at most {len(positional)} positional "
                            f"argument(s) ({', '.join(positional) or 'none'}), got {len(args)}")
        for key, value in zip(positional, args):
            if key in kwargs:
                raise SpecError(f"{self.family} {cls.spec_name!r}: argument {key!r} given twice")
            kwargs[key] = value
        if not accepts_var_kw:
            for key in kwargs:
                if key not in named:
                    close = difflib.get_close_matches(key, named, n=1, cutoff=0.5)
                    hint = f" Did you mean {close[0]!r}?" if close else ""
                    raise SpecError(f"{self.family} {cls.spec_name!r} has no argument {key!r}.{hint} "
                                    f"Known arguments: {', '.join(named) or 'none'}")
        missing = [p.name for p in params if p.default is p.empty and p.name not in kwargs
                   and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if missing:
            raise SpecError(f"{self.family} {cls.spec_name!r} needs argument(s) {', '.join(map(repr, missing))}, "
                            f"e.g. {cls.spec_name}({missing[0]}=...)")
        # every keyword is known and every required one given: what the constructor raises now is its own
        # validation (a SpecError) or a bug, which must not be disguised as a spec error
        return cls(**kwargs)

    def get(self, identifier):
        """Turn a spec string, a ``{"name", "config"}`` dict, an instance or ``None`` into an instance."""
        if identifier is None or (isinstance(identifier, str) and identifier.strip().lower() == "none"):
            if self.allow_none:
                return None
            raise SpecError(f"a {self.family} is required here; got {identifier!r}. Known: {', '.join(self.names())}")
        if isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            name, args, kwargs = parse_call(identifier)
            return self.build(name, args, kwargs)
        if isinstance(identifier, dict) and "name" in identifier:
            name, config = identifier["name"], identifier.get("config") or {}
            if not isinstance(name, str) or not isinstance(config, dict) or not all(map(_is_str, config)):
                raise SpecError(f"a {self.family} dict must be {{'name': str, 'config': {{keyword: value}}}}, got "
                                f"{identifier!r:.200}")
            return self.build(name, (), config)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        example = f"a spec string such as {self.names()[0]!r}" if self.names() else "a spec string"
        none = " or None" if self.allow_none else ""
        raise SpecError(f"cannot make a {self.family} from {identifier!r:.200} ({type(identifier).__name__}); "
                        f"expected {example}, a {self.base.__name__} instance{none}")
