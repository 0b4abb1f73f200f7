"""Build a registered method from CLI-style parameter overrides, and name its results."""

from __future__ import annotations

import ast

from bench.errors import BenchError
from methods.registry import discover, get_method


def coerce(name: str, method: str, value, default):
    """Convert a CLI value to the type of the constructor default (``true``/``false`` for bools)."""
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif (
        isinstance(default, float)
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return float(value)
    elif isinstance(default, str) and isinstance(value, str):
        return value
    elif default is None:
        return value
    kind = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        type(default), type(default).__name__
    )
    raise BenchError(f"parameter '{name}' of method '{method}' takes {kind}, got {value!r}")


def make_method(name: str, params: dict, seed: int):
    """Instantiate a registered method with overrides; the split seed seeds the method."""
    cls = get_method(name).cls
    defaults = cls().get_params()
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise BenchError(
            f"method '{name}' has no parameter(s) {', '.join(unknown)}; "
            f"its parameters: {', '.join(p for p in defaults if p != 'seed')}"
        )
    kwargs = {k: coerce(k, name, v, defaults[k]) for k, v in params.items()}
    if "seed" in defaults:
        kwargs.setdefault("seed", seed)
    return cls(**kwargs)


def label(method: str, params: dict) -> str:
    """Name a result is stored and reported under: the method, plus any overrides."""
    if not params:
        return method
    return method + "[" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + "]"


def parse_params(items: list[str], methods: list[str]) -> dict[str, dict]:
    """``--param epochs=5`` (every listed method that has it) or ``--param strategy1.epochs=5``."""
    registry = discover()
    out: dict[str, dict] = {m: {} for m in methods}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise BenchError(
                f"--param '{item}' is not of the form NAME=VALUE (or METHOD.NAME=VALUE)"
            )
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw  # a bare string such as feedback=liked
        target, _, name = key.rpartition(".")
        targets = [target] if target else methods
        if target and target not in out:
            raise BenchError(f"--param '{item}' names method '{target}', which is not being run")
        takers = [m for m in targets if name in registry[m].cls.param_names()]
        if not takers:
            raise BenchError(
                f"--param '{item}': no method being run has a parameter '{name}' "
                "(see 'python -m bench list --params METHOD')"
            )
        for m in takers:
            out[m][name] = value
    return out
