"""Hugging Face ZeroGPU support without depending on it.

``gpu`` is ``spaces.GPU`` when the ``spaces`` package is importable (Hugging Face Spaces), and an
identity decorator otherwise (CLI, tests, local app, CPU Spaces). ``spaces.GPU`` itself only wraps
the function when ``SPACES_ZERO_GPU`` is set, so decorating is harmless everywhere.

Use it on the one synchronous function that runs the models, never on UI code::

    @gpu(duration=120)
    def restore_turn(session, text, ...): ...

On ZeroGPU the decorated function runs in a worker process: return everything it changes
(``assistant.ui`` returns the Session) instead of relying on side effects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

try:  # pragma: no cover - depends on the environment
    import spaces as _spaces
except ImportError:
    _spaces = None

#: True when decorated functions really get a ZeroGPU slice (the variable spaces.GPU reads).
ZERO_GPU = _spaces is not None and os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def gpu(fn: F | None = None, **kwargs: Any) -> F | Callable[[F], F]:
    """``@gpu`` or ``@gpu(duration=120)``: ``spaces.GPU`` when available, else a no-op."""
    if _spaces is not None:
        return _spaces.GPU(fn, **kwargs) if fn is not None else _spaces.GPU(**kwargs)
    if fn is not None:
        return fn
    return lambda f: f
