"""Checks that the assignment notebooks' tests call: failures that say what was expected and what came.

Every check raises ``AssertionError`` with a message written for the learner: the name of the thing
checked, the expected and actual shape/dtype/value, the largest difference and where it is, and a hint at
the usual mistake. ``check_not_reference`` makes sure a graded function is the learner's own work and not
a call into the ``gpt2ref`` reference it is compared against.

This module imports torch lazily so that ``import gpt2ref.course.grading`` stays cheap.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import inspect
import math
import sys
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = [
    "ReferenceUsedError",
    "check_close",
    "check_equal",
    "check_not_reference",
    "check_raises",
    "check_shape",
    "check_true",
    "fresh_module",
    "reference_disabled",
    "using_reference",
]


def _fail(name: str, lines: Sequence[str], hint: str | None) -> None:
    message = f"{name}: " + "\n  ".join(lines)
    if hint:
        message += f"\n  Hint: {hint}"
    raise AssertionError(message)


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _as_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if type(value).__module__ == "numpy":
        return torch.from_numpy(value)
    return torch.as_tensor(value)


def check_shape(name: str, got: Any, shape: Sequence[int], hint: str | None = None) -> None:
    """Check that ``got`` is a tensor (or array) of the given shape."""
    if not hasattr(got, "shape"):
        _fail(name, [f"expected a tensor of shape {tuple(shape)}, got {type(got).__name__}: {_describe(got)}"],
              hint)
    if tuple(got.shape) != tuple(shape):
        _fail(name, [f"expected shape {tuple(shape)}, got shape {tuple(got.shape)}"], hint)


def check_close(
    name: str,
    got: Any,
    expected: Any,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    hint: str | None = None,
    check_dtype: bool = True,
) -> None:
    """Check that ``got`` equals ``expected`` within ``atol + rtol * |expected|``, element by element.

    Both may be tensors, numpy arrays, Python numbers or nested lists. The message names the first thing
    that differs: the type, the shape, the dtype (when ``check_dtype``), or the largest absolute difference
    and the index where it occurs.
    """
    import torch

    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            _fail(name, [f"expected a number close to {expected!r}, got {type(got).__name__}: {_describe(got)}"],
                  hint)
        if math.isnan(got) or not abs(got - expected) <= atol + rtol * abs(expected):
            _fail(name, [f"expected {expected!r}, got {got!r} (difference {abs(got - expected):.3g},"
                         f" tolerance {atol + rtol * abs(expected):.3g})"], hint)
        return
    if not (isinstance(got, torch.Tensor) or type(got).__module__ == "numpy" or isinstance(got, (list, tuple))):
        _fail(name, [f"expected a tensor, got {type(got).__name__}: {_describe(got)}"], hint)
    got_t, exp_t = _as_tensor(got), _as_tensor(expected)
    if tuple(got_t.shape) != tuple(exp_t.shape):
        _fail(name, [f"expected shape {tuple(exp_t.shape)}, got shape {tuple(got_t.shape)}"], hint)
    if check_dtype and got_t.dtype != exp_t.dtype:
        _fail(name, [f"expected dtype {exp_t.dtype}, got dtype {got_t.dtype} (shape {tuple(got_t.shape)})"], hint)
    if got_t.numel() == 0:
        return
    g = got_t.detach().cpu().to(torch.float64)
    e = exp_t.detach().cpu().to(torch.float64)
    if torch.isnan(g).any() and not torch.isnan(e).any():
        index = tuple(int(i) for i in torch.nonzero(torch.isnan(g))[0])
        _fail(name, [f"got NaN at index {index} (shape {tuple(g.shape)}); expected {e[index].item():.6g} there"],
              hint)
    diff = (g - e).abs().nan_to_num(nan=0.0, posinf=math.inf)
    both_inf = torch.isinf(g) & torch.isinf(e) & (torch.sign(g) == torch.sign(e))
    diff = torch.where(both_inf, torch.zeros_like(diff), diff)
    tolerance = atol + rtol * e.abs().nan_to_num(nan=0.0, posinf=0.0)
    bad = diff > tolerance
    if bad.any():
        flat = int(torch.argmax(torch.where(bad, diff, torch.full_like(diff, -1.0))))
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(g.shape)))
        _fail(name, [
            f"values differ: max abs difference {diff[index].item():.4g} at index {index}"
            f" (got {g[index].item():.6g}, expected {e[index].item():.6g}; tolerance {tolerance[index].item():.2g})",
            f"{int(bad.sum())} of {g.numel()} elements are off; shape {tuple(g.shape)}, dtype {got_t.dtype}",
        ], hint)


def check_equal(name: str, got: Any, expected: Any, hint: str | None = None) -> None:
    """Check exact equality of plain values (ints, strings, lists, dicts, tuples) or integer tensors."""
    torch = sys.modules.get("torch")  # a tensor can only exist if torch was imported: do not import it here
    if torch is not None and (isinstance(expected, torch.Tensor) or isinstance(got, torch.Tensor)):
        check_close(name, got, expected, atol=0, rtol=0, hint=hint)
        return
    if type(got) is not type(expected) and not (
        isinstance(got, (int, float)) and isinstance(expected, (int, float)) and not isinstance(got, bool)
    ) and not (type(expected) is dict and isinstance(got, dict)):  # a Counter or defaultdict is a dict
        _fail(name, [f"expected a {type(expected).__name__}, got a {type(got).__name__}: {_describe(got)}"], hint)
    if got == expected:
        where = _wrapped_element(got, expected)
        if where is not None:
            path, element, want = where
            _fail(name, [f"the values are equal, but {path} is a {type(element).__name__} ({_describe(element)}),"
                         f" not a plain {type(want).__name__}"],
                  hint or "convert with int(...) / float(...) / .item(): the result must hold plain Python values")
        return
    lines = [f"expected {_describe(expected)}", f"got      {_describe(got)}"]
    if isinstance(expected, (list, tuple, str)) and isinstance(got, (list, tuple, str)):
        if len(got) != len(expected):
            lines.append(f"lengths differ: expected {len(expected)}, got {len(got)}")
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b), None)
        if first is not None:
            lines.append(f"first difference at position {first}: expected {expected[first]!r}, got {got[first]!r}")
    elif isinstance(expected, dict) and isinstance(got, dict):
        missing = [k for k in expected if k not in got]
        extra = [k for k in got if k not in expected]
        wrong = [k for k in expected if k in got and got[k] != expected[k]]
        if missing:
            lines.append(f"missing keys: {_describe(missing[:5])}")
        if extra:
            lines.append(f"unexpected keys: {_describe(extra[:5])}")
        if wrong:
            k = wrong[0]
            lines.append(f"{len(wrong)} keys have a wrong value, e.g. {k!r}: expected {expected[k]!r}, got {got[k]!r}")
    _fail(name, lines, hint)


def _wrapped_element(got: Any, expected: Any, path: str = "the result") -> tuple[str, Any, Any] | None:
    """The first element of ``got`` that equals its plain counterpart in ``expected`` (an int, float, bool
    or str) while being something else, e.g. a 0-d tensor or a numpy scalar: (where, element, expected)."""
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        pairs = [(f"{path}[{i}]", g, e) for i, (g, e) in enumerate(zip(got, expected, strict=False))]
    elif isinstance(expected, dict) and isinstance(got, dict):
        pairs = [(f"{path}[{k!r}]", got[k], e) for k, e in expected.items() if k in got]
    else:
        return None
    for where, g, e in pairs:
        if isinstance(e, (bool, int, float, str)) and not isinstance(g, (bool, int, float, str)):
            return where, g, e
        found = _wrapped_element(g, e, where)
        if found is not None:
            return found
    return None


def check_true(name: str, condition: bool, message: str, hint: str | None = None) -> None:
    """Fail with ``message`` unless ``condition`` holds (for properties that are not a comparison)."""
    if not condition:
        _fail(name, [message], hint)


def check_raises(
    name: str, call: Callable[[], Any], exception: type[BaseException] = ValueError, hint: str | None = None
) -> None:
    """Check that ``call()`` raises ``exception`` (bad input must get a clear error)."""
    try:
        result = call()
    except exception:
        return
    except Exception as error:  # noqa: BLE001 - the learner's code may raise anything
        _fail(name, [f"expected {exception.__name__}, got {type(error).__name__}: {error}"], hint)
    else:
        _fail(name, [f"expected {exception.__name__} to be raised, but it returned {_describe(result)}"], hint)


class ReferenceUsedError(AssertionError):
    """Raised when graded code calls into the ``gpt2ref`` reference it is supposed to re-implement."""


def _module(module: str | types.ModuleType) -> types.ModuleType:
    return importlib.import_module(module) if isinstance(module, str) else module


def _reference_objects(module: types.ModuleType, names: Sequence[str] | None) -> dict[str, Any]:
    if names is None:
        names = [
            n for n, obj in vars(module).items()
            if not n.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__
        ]
    return {n: getattr(module, n) for n in names}


def _raiser(qualname: str) -> Callable[..., Any]:
    def blocked(*args: Any, **kwargs: Any) -> Any:
        raise ReferenceUsedError(
            f"your code called {qualname}, the reference implementation it is graded against."
            " Write this piece yourself (you may use torch and the Python standard library)."
        )

    return blocked


@contextlib.contextmanager
def reference_disabled(
    module: str | types.ModuleType,
    names: Sequence[str] | None = None,
    namespaces: Sequence[dict[str, Any]] = (),
) -> Iterator[None]:
    """Within the block, the reference module's functions and classes raise ``ReferenceUsedError``.

    Besides the module's own attributes, any entry of ``namespaces`` (e.g. a notebook's globals) that *is*
    one of those objects is replaced too, so ``from gpt2ref.bigram import f as g`` is caught as well.
    """
    mod = _module(module)
    originals = _reference_objects(mod, names)
    patched: list[tuple[Any, str, Any]] = []
    try:
        for name, obj in originals.items():
            blocked = _raiser(f"{mod.__name__}.{name}")
            patched.append((mod, name, obj))
            setattr(mod, name, blocked)
            for namespace in namespaces:
                for key, value in list(namespace.items()):
                    if value is obj:
                        patched.append((namespace, key, value))
                        namespace[key] = blocked
        yield
    finally:
        for target, name, obj in reversed(patched):
            if isinstance(target, dict):
                target[name] = obj
            else:
                setattr(target, name, obj)


def _defining_module(fn: Any) -> str | None:
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)
    return getattr(fn, "__module__", None)


def check_not_reference(
    fn: Any,
    module: str | types.ModuleType,
    call: Callable[[], Any] | None = None,
    names: Sequence[str] | None = None,
) -> None:
    """Check that ``fn`` (a function or class) is the learner's own, not the ``gpt2ref`` reference.

    Two checks: ``fn`` must be defined outside ``gpt2ref`` (an import ``from gpt2ref.x import f`` fails),
    and ``call()``, when given, must run while every function and class of ``module`` is replaced by one
    that raises (so a wrapper that merely calls the reference fails too).
    """
    mod = _module(module)
    defined_in = _defining_module(fn)
    label = getattr(fn, "__name__", repr(fn))
    if defined_in is None or defined_in.split(".")[0] == "gpt2ref":
        raise ReferenceUsedError(
            f"{label} comes from {defined_in or 'an unknown module'}, not from your notebook:"
            f" write it yourself instead of importing it from {mod.__name__}."
        )
    if inspect.isclass(fn):
        for base in fn.__mro__[1:]:
            if base.__module__.split(".")[0] == "gpt2ref":
                raise ReferenceUsedError(
                    f"{label} subclasses {base.__module__}.{base.__qualname__}: write the class yourself.")
    if call is None:
        return
    namespaces = []
    globals_ = getattr(getattr(fn, "__func__", fn), "__globals__", None)
    if globals_ is None and inspect.isclass(fn):
        globals_ = vars(sys.modules.get(fn.__module__, types.ModuleType("_"))) or None
    if globals_ is not None:
        namespaces.append(globals_)
    with reference_disabled(mod, names, namespaces):
        call()


@contextlib.contextmanager
def using_reference(
    namespace: dict[str, Any], module: str | types.ModuleType, names: Sequence[str]
) -> Iterator[None]:
    """Within the block, ``namespace[name]`` is the reference's ``name`` for each of ``names``.

    A test cell passes its ``globals()`` so that the function under test, which calls the learner's
    helpers from earlier tasks, runs with correct helpers instead: each task is graded on its own and a
    mistake in an earlier task does not cost points twice.
    """
    mod = _module(module)
    missing = object()
    saved = {name: namespace.get(name, missing) for name in names}
    try:
        for name in names:
            namespace[name] = getattr(mod, name)
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                namespace.pop(name, None)
            else:
                namespace[name] = value


def fresh_module(name: str) -> types.ModuleType:
    """A private, freshly executed copy of a ``gpt2ref`` module, immune to patches made by the notebook.

    Hidden tests compare against this copy, so a notebook that reassigns ``gpt2ref.bigram.some_function``
    cannot make the comparison pass.
    """
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"cannot find module {name!r}; is gpt2ref installed (pip install -e .)?")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses and pickling look the module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
    return module
