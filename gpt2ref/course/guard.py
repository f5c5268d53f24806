"""Runs inside a student's kernel while it is graded: puts back what the student's cells may have replaced.

Before the first cell, :func:`install` records the pristine state: the dictionaries of ``builtins``,
``math``, ``random``, ``importlib``, ``torch``, ``torch.nn.functional`` and ``torch.Tensor``, IPython's
input and AST transformers, event callbacks and hooks, and the source of ``gpt2ref.course.grading``.
Before every test cell, :func:`restore` puts all of that back, clears custom exception handlers and
trace functions, and binds the notebook's grading checks to a copy of ``gpt2ref.course.grading`` freshly
executed from its (read-only) file. It answers with an HMAC of the grader's nonce under a key given to
``install``, so that the grader knows the restore really ran (see ``preprocessors.GuardedExecute``).
"""

from __future__ import annotations

import hashlib
import hmac
import sys
import types
from typing import Any

GRADING = "gpt2ref.course.grading"
MODULES = ("builtins", "math", "random", "importlib", "importlib.util", "torch", "torch.nn.functional")
_restore: Any = None


def install(key: str) -> str:
    """Record the pristine state (call before any student code runs); returns ``"installed"``."""
    global _restore
    import importlib
    import importlib.util
    import math  # noqa: F401 - recorded below
    import random  # noqa: F401

    import torch
    import torch.nn.functional  # noqa: F401
    from IPython import get_ipython

    ip = get_ipython()
    modules = {sys.modules[name]: dict(vars(sys.modules[name])) for name in MODULES}
    classes = {torch.Tensor: dict(vars(torch.Tensor))}
    manager = ip.input_transformer_manager
    lists = [(ip, "input_transformers_cleanup"), (ip, "input_transformers_post"), (ip, "ast_transformers"),
             (manager, "cleanup_transforms"), (manager, "line_transforms"), (manager, "token_transformers")]
    saved_lists = {(id(owner), name): list(getattr(owner, name)) for owner, name in lists}
    callbacks = {event: list(funcs) for event, funcs in ip.events.callbacks.items()}
    shell_attributes = set(vars(ip))
    hooks = (sys.excepthook, sys.displayhook, sys.stdout, sys.stderr)
    spec = importlib.util.find_spec(GRADING)
    source = spec.loader.get_source(GRADING)
    origin = spec.origin

    def restore(nonce: str) -> str:
        for module, saved in modules.items():
            current = vars(module)
            for name in [n for n in current if n not in saved]:
                del current[name]
            current.update(saved)
            sys.modules[module.__name__] = module
        for cls, saved in classes.items():
            for name in [n for n in vars(cls) if n not in saved]:
                delattr(cls, name)
            for name, value in saved.items():
                if vars(cls).get(name) is not value and name not in ("__dict__", "__weakref__", "__doc__"):
                    setattr(cls, name, value)
        for owner, name in lists:
            getattr(owner, name)[:] = saved_lists[(id(owner), name)]
        ip.events.callbacks.clear()
        ip.events.callbacks.update({event: list(funcs) for event, funcs in callbacks.items()})
        for name in [n for n in vars(ip) if n not in shell_attributes]:
            delattr(ip, name)  # e.g. a replaced ip.run_cell or ip.showtraceback
        ip.custom_exceptions = ()
        sys.settrace(None)
        sys.setprofile(None)
        sys.excepthook, sys.displayhook, sys.stdout, sys.stderr = hooks
        fresh = types.ModuleType(GRADING)
        fresh.__file__ = origin
        sys.modules[GRADING] = fresh
        exec(compile(source, origin, "exec"), vars(fresh))  # noqa: S102 - the course's own file, read-only
        package = sys.modules.get("gpt2ref.course")
        if package is not None:
            package.grading = fresh
        for name in fresh.__all__:
            if name in ip.user_ns:
                ip.user_ns[name] = getattr(fresh, name)
        return answer(key, nonce)

    _restore = restore
    return "installed"


def restore(nonce: str) -> str:
    """Put the pristine state back; returns the HMAC of ``nonce`` that proves it ran."""
    if _restore is None:
        raise RuntimeError("gpt2ref.course.guard.install() was not called")
    return _restore(nonce)


def answer(key: str, nonce: str) -> str:
    """What :func:`restore` returns for ``nonce`` under ``key`` (computed by the grader)."""
    return hmac.new(key.encode(), nonce.encode(), hashlib.sha256).hexdigest()

