"""The spec parser and registries: valid forms, aliases, round trips, and hostile or broken strings."""

import numpy as np
import pytest

import numpynet as nn
from numpynet import spec
from numpynet.errors import SpecError

FAMILIES = {
    "regularizer": nn.regularizers,
    "activation": nn.activations,
    "initializer": nn.initializers,
    "constraint": nn.constraints,
    "loss": nn.losses,
    "optimizer": nn.optimizers,
    "schedule": nn.schedules,
}

# Arguments needed by names that have required parameters.
REQUIRED_ARGS = {
    "exponential_decay": "(0.1, 100, 0.9)",
    "inverse_time_decay": "(0.1, 100, 0.5)",
    "cosine_decay": "(0.1, 100)",
    "piecewise_constant_decay": "([10, 20], [0.1, 0.01, 0.001])",
}


def test_parse_fixed_example():
    assert nn.spec.parse("l2(lambd=0.01)") == ("l2", {"lambd": 0.01})


@pytest.mark.parametrize("text, expected", [
    ("l2", ("l2", (), {})),
    ("  L2 ", ("l2", (), {})),
    ("l2()", ("l2", (), {})),
    ("l2(0.5)", ("l2", (0.5,), {})),
    ("l1l2(l1=1e-4, l2=-0.0)", ("l1l2", (), {"l1": 1e-4, "l2": -0.0})),
    ("adam(lr=1e-3, amsgrad=True)", ("adam", (), {"lr": 1e-3, "amsgrad": True})),
    ("x(a=None, b='s', c=(1, 2), d=[1.5, -2])", ("x", (), {"a": None, "b": "s", "c": (1, 2), "d": [1.5, -2]})),
    ("sgd(learning_rate='cosine_decay(0.1, 100)')", ("sgd", (), {"learning_rate": "cosine_decay(0.1, 100)"})),
    ("max_norm(+3)", ("max_norm", (3,), {})),
])
def test_parse_call_valid_forms(text, expected):
    assert spec.parse_call(text) == expected


def test_positional_args_map_to_constructor_order():
    # (regularizers are keyword-only, see test_regularizers.py; an optimizer shows the positional mapping)
    assert nn.optimizers.get("adam(0.25)") == nn.optimizers.get("adam(learning_rate=0.25)")
    assert nn.spec.parse("l2(0.25)") == ("l2", {0: 0.25})


def test_names_are_case_insensitive_and_aliases_work():
    assert nn.regularizers.get("L1L2(l1=0.1)") == nn.regularizers.get("l1_l2(l1=0.1)")
    assert nn.regularizers.get("elastic_net(l1=0.1, l2=0.2)") == nn.regularizers.get("l1l2(l1=0.1, l2=0.2)")
    assert nn.activations.get("Swish") == nn.activations.get("silu")


def test_none_means_no_regularizer_or_constraint():
    assert nn.regularizers.get("none") is None
    assert nn.regularizers.get("None") is None
    assert nn.regularizers.get(None) is None
    assert nn.constraints.get("none") is None


def test_dict_form_and_instances_pass_through():
    reg = nn.L2(lambd=0.5)
    assert nn.regularizers.get(reg) is reg
    assert nn.regularizers.get({"name": "l2", "config": {"lambd": 0.5}}) == reg


def _all_names():
    for family, module in FAMILIES.items():
        for name in module.registry.aliases():
            yield family, name


@pytest.mark.parametrize("family, name", list(_all_names()))
def test_round_trip_every_registered_name(family, name):
    module = FAMILIES[family]
    obj = module.get(name + REQUIRED_ARGS.get(module.registry.lookup(name).spec_name, ""))
    text = str(obj)
    again = module.get(text)
    assert again == obj, f"{family} {name}: {text!r} parsed back to {again!r}"
    assert str(again) == text
    parsed_name, _ = nn.spec.parse(text)
    assert module.registry.lookup(parsed_name) is type(obj)


def test_l2_round_trip_keeps_the_keyword_given():
    assert str(nn.regularizers.get("l2(l2=0.125)")) == "l2(l2=0.125)"
    assert str(nn.regularizers.get("l2(lambd=0.125)")) == "l2(lambd=0.125)"
    assert nn.regularizers.get("l2(l2=0.125)") != nn.regularizers.get("l2(lambd=0.125)")


def test_format_spec_round_trips_values():
    text = spec.format_spec("x", {"a": 0.1, "b": (1,), "c": [1, 2], "d": "s", "e": None, "f": True})
    assert spec.parse_call(text) == ("x", (), {"a": 0.1, "b": (1,), "c": [1, 2], "d": "s", "e": None, "f": True})


HOSTILE = [
    "__import__('os').system('echo pwned')",          # code injection through a call
    "l2(lambd=__import__('os').getcwd())",            # a call inside an argument
    "os.system('ls')",                                 # attribute call
    "l2.__class__",                                    # attribute access
    "l2(lambd=().__class__.__bases__)",               # attribute chains
    "l2(lambd=x)",                                     # a variable name as value
    "lambda: 0",                                       # a lambda
    "l2(lambd=lambda: 1)",                             # a lambda as value
    "l2(lambd=1+1)",                                   # arithmetic
    "l2(lambd=[i for i in range(9)])",                # comprehension
    "l2(lambd={'a': 1})",                              # dict
    "l2(lambd={1})",                                   # set
    "l2(lambd=f'{1}')",                                # f-string
    "l2(*[1])",                                        # star args
    "l2(**{'lambd': 1})",                              # double-star
    "l2(lambd=0.1); import os",                        # a statement
    "import os",                                       # a statement alone
    "l2(lambd=b'1')",                                  # bytes
    "l2(lambd=1j)",                                    # complex
    "l2(lambd=(yield))",                               # yield
    "l2(lambd=a[0])",                                  # indexing
    "l2(lambd=1 if True else 2)",                      # conditional expression
    "(l2)(lambd=1)",                                   # not a plain name call? (parenthesised name is ok)
    "l2(lambd=(x := 1))",                              # walrus
    "'l2'",                                            # a string, not a name
    "12",                                              # a number
    "",                                                # empty
    "   ",                                             # blank
    "l2(lambd=0.1",                                    # unbalanced
    "l2(lambd=0.1, lambd=0.2)",                        # duplicate keyword
    "l2(" + "[" * 50 + "]" * 50 + ")",                 # deep nesting
    "l2(lambd=" + "1" * 600 + ")",                     # very long input
    "l2(lambd=\x00)",                                  # NUL byte
    "l2(lambd=...)",                                   # Ellipsis
    "getattr(l2, 'x')()",                              # call of a call
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_refused_without_executing(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if text == "(l2)(lambd=1)":
        # A parenthesised name is still just a name: accepted, and harmless.
        assert nn.regularizers.get(text) == nn.regularizers.get("l2(lambd=1)")
        return
    with pytest.raises(SpecError):
        nn.regularizers.get(text)
    assert list(tmp_path.iterdir()) == []


def test_errors_name_known_names_and_suggest_the_closest():
    with pytest.raises(SpecError) as exc:
        nn.regularizers.get("l3(lambd=0.1)")
    msg = str(exc.value)
    assert "unknown regularizer 'l3'" in msg and "l1" in msg and "l2" in msg and "Did you mean" in msg


def test_unknown_keyword_suggests_the_closest():
    with pytest.raises(SpecError) as exc:
        nn.regularizers.get("l2(lamda=0.1)")
    assert "'lamda'" in str(exc.value) and "'lambd'" in str(exc.value)


@pytest.mark.parametrize("text", ["l2(lambd=-0.1)", "l1(l1=-1)", "l1l2(l1=-0.5)", "l2(lambd='a')",
                                  "l2(lambd=True)", "l2(lambd=None, l2=None, x=1)", "l2(0.1, 0.2, 0.3)",
                                  "l2(0.1, lambd=0.2)", "sgd(lr=-1)", "dropout_rate_unknown"])
def test_wrong_values_types_and_arity(text):
    family = nn.optimizers if text.startswith("sgd") else nn.regularizers
    with pytest.raises(SpecError):
        family.get(text)


def test_nan_and_infinite_strengths_are_refused():
    with pytest.raises(SpecError):
        nn.regularizers.get("l2(lambd=1e999)")
    with pytest.raises(SpecError):
        nn.L2(lambd=float("nan"))


def test_wrong_identifier_type():
    with pytest.raises(SpecError) as exc:
        nn.regularizers.get(3.5)
    assert "regularizer" in str(exc.value)
    with pytest.raises(SpecError):
        nn.spec.parse(None)


def test_spec_error_is_a_value_error():
    assert issubclass(SpecError, ValueError)
    with pytest.raises(ValueError):
        nn.regularizers.get("nope")


def test_spec_is_never_evaluated(monkeypatch):
    called = []
    monkeypatch.setattr("builtins.eval", lambda *a, **k: called.append(a))
    monkeypatch.setattr("builtins.exec", lambda *a, **k: called.append(a))
    assert nn.regularizers.get("l2(lambd=0.5)") == nn.L2(lambd=0.5)
    with pytest.raises(SpecError):
        nn.regularizers.get("__import__('os')")
    assert called == []


def test_float_values_round_trip_exactly():
    for value in [0.1, 1e-4, 2 ** -7, 0.3333333333333333, 123456.789]:
        reg = nn.L2(lambd=value)
        assert nn.regularizers.get(str(reg)).lambd == value
    assert np.isclose(nn.regularizers.get("l2(lambd=1e-3)").lambd, 1e-3)


def test_a_keyword_given_twice_is_refused():
    with pytest.raises(SpecError, match="'lambd' is given twice"):
        nn.regularizers.get("l2(lambd=0.1, lambd=0.2)")


# ---------------------------------------------------------------------------------------------------- "+" terms

def test_parse_terms_splits_the_top_level_plus_chain():
    terms = spec.parse_terms(" L2(lambd=0.01) +dropout(0.2)+ batchnorm ")
    assert [(t.name, t.args, t.kwargs) for t in terms] == [("l2", (), {"lambd": 0.01}), ("dropout", (0.2,), {}),
                                                           ("batchnorm", (), {})]
    assert [t.text for t in terms] == ["L2(lambd=0.01)", "dropout(0.2)", "batchnorm"]
    # a "+" inside a literal belongs to it; one term is a list of one
    assert [t.text for t in spec.parse_terms("a(1e+4, k=(1, +2))+b")] == ["a(1e+4, k=(1, +2))", "b"]
    assert spec.parse_terms("none") == [spec.Term("none", (), {}, "none")]
    assert spec.parse_terms("a+" * 200 + "a")[-1].name == "a"      # long chains: a loop, not recursion


@pytest.mark.parametrize("text, words", [
    ("l2+", ["empty part"]), ("+l2", ["empty part"]), ("a++b", ["empty part"]), ("", ["empty"]),
    ("a - b", ["arithmetic"]), ("a + (b + c)", ["arithmetic"]), ("a * b", ["arithmetic"]),
    ("a + 1", ["name or a call"]), ("a + -b", ["name or a call"]), ("a + b.c", ["attribute"]),
    ("__import__('os').system('ls') + a", ["plain name"]), ("a + f(g())", ["literals"]),
    ("a + (lambda: 0)()", ["plain name"]), ("a + b(**k)", ["unpacking"]), ("a + b[0]", ["indexing"]),
    ("a + b(k=1, k=2)", ["twice"]), ("a +\x00b", ["cannot parse"]), ("a +" + "(" * 300 + "b" + ")" * 300, ["long"]),
    ("a + " * 200 + "a", ["at most"]), ("a + b(" + "[" * 6 + "]" * 6 + ")", ["nested"]),
])
def test_parse_terms_refuses_hostile_and_broken_text(text, words):
    with pytest.raises(SpecError) as info:
        spec.parse_terms(text)
    for word in words:
        assert word in str(info.value)


def test_parse_terms_is_never_evaluated(monkeypatch):
    called = []
    monkeypatch.setattr("builtins.eval", lambda *a, **k: called.append(a))
    monkeypatch.setattr("builtins.exec", lambda *a, **k: called.append(a))
    assert spec.parse_terms("a + b(1)")[1].args == (1,)
    assert spec.parse_terms("a + __import__('os')")[1] == ("__import__", ("os",), {}, "__import__('os')")  # a name
    with pytest.raises(SpecError):
        spec.parse_terms("a + __import__('os').system('ls')")
    assert called == []


def test_parse_terms_known_names_suggest_the_closest():
    with pytest.raises(SpecError, match=r"unknown name 'dropot'.*Did you mean 'dropout'\?.*Known: dropout, l2"):
        spec.parse_terms("l2 + dropot(0.2)", known={"l2", "dropout"})
    assert [t.name for t in spec.parse_terms("L2 + Dropout", known={"l2", "dropout"})] == ["l2", "dropout"]
    with pytest.raises(SpecError, match="a spec must be a string"):
        spec.parse_terms(["l2"])
