"""Answers as data: read in the student's kernel, rebuilt and checked by the grader outside it.

Everything a submission's kernel sends is untrusted: its code shares the kernel with whatever reads the
answers, so it can print anything. The grader therefore never asks the kernel for a verdict, only for the
answer itself as plain data (a number, an expression's text, a function's outputs on the check's inputs),
and runs lmlib's check on that data in its own process. Forging a passing record then needs the right
answer, which is what the exercise asks for.

``record`` runs in the kernel (``ANSWER_MIME`` output); ``decode`` runs in the grader and rebuilds an
answer from a record without ``eval``: numbers from JSON, expressions through a small parser that allows
only arithmetic on known symbols and functions, functions as a replay of their recorded outputs.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import types
from typing import Any

ANSWER_MIME = "application/vnd.lmlib.answer+json"
MAX_EXPRESSION_CHARS = 4000
MAX_RECORD_CHARS = 1_000_000
MAX_TEXT_CHARS = 20_000
_ARRAY_MODULES = ("numpy", "jax", "jaxlib")


# ---- In the kernel ------------------------------------------------------------------------------------

def _encode_value(value: Any, depth: int = 0) -> Any:
    """Plain JSON for what a check may call a student's function with or get back from it."""
    if depth > 6:
        raise ValueError("the value is nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    try:
        import torch

        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
            if t.numel() > 100_000:
                raise ValueError("the tensor is too large")
            return {"__tensor__": _encode_value(t.tolist(), depth + 1), "dtype": str(t.dtype)}
    except ImportError:  # pragma: no cover - torch is a dependency of lmlib
        pass
    if type(value).__module__.split(".")[0] in _ARRAY_MODULES and hasattr(value, "__array__"):
        import numpy as np

        array = np.asarray(value)  # numpy and JAX arrays (and scalars) travel as their values
        if array.size > 100_000:
            raise ValueError("the array is too large")
        return {"__tensor__": _encode_value(array.tolist(), depth + 1), "dtype": str(array.dtype)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode_value(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
        return {"__record__": type(value).__name__, "fields": fields}
    if isinstance(value, (list, tuple)):
        if len(value) > 100_000:
            raise ValueError("the list is too long")
        items = [_encode_value(v, depth + 1) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    return {"__object__": type(value).__name__}


def _number_record(value: Any) -> dict[str, Any]:
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        return {"status": "error", "message": f"expected a number, got {type(value).__name__}"}
    try:
        number = float(value)
    except Exception as err:  # noqa: BLE001 - any object may be given
        return {"status": "error", "message": f"expected a number, got {type(value).__name__} ({type(err).__name__})"}
    record: dict[str, Any] = {"status": "value", "float": repr(number)}
    if math.isfinite(number) and number == int(number) and abs(number) < 2**53:
        record["int"] = str(int(number))
    return record


def _expression_record(value: Any) -> dict[str, Any]:
    import sympy as sp

    if isinstance(value, str):
        text = value
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        text = repr(value)
    elif isinstance(value, sp.Basic):
        text = sp.sstr(value, order="none")
    else:
        return {"status": "error", "message": f"expected a sympy expression, got {type(value).__name__}"}
    if len(text) > MAX_EXPRESSION_CHARS:
        return {"status": "error", "message": f"the expression is longer than {MAX_EXPRESSION_CHARS} characters"}
    return {"status": "value", "expression": text}


def _text_record(value: Any) -> dict[str, Any]:
    if not isinstance(value, str):
        return {"status": "error", "message": f"expected a string, got {type(value).__name__}"}
    if len(value) > MAX_TEXT_CHARS:
        return {"status": "error", "message": f"the text is longer than {MAX_TEXT_CHARS} characters"}
    return {"status": "value", "text": value}


class _Recorder:
    """Wraps a student's function: calls it and keeps (arguments, result) for the grader to replay."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any) -> Any:
        encoded_args = _encode_value(list(args))
        try:
            result = self.fn(*args)
        except BaseException as err:
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
            self.calls.append({"args": encoded_args, "raised": type(err).__name__,
                               "message": str(err).splitlines()[0][:300] if str(err) else ""})
            raise
        self.calls.append({"args": encoded_args, "result": _encode_value(result)})
        return result


def record(exercise_id: str, env: dict[str, Any], student: str | None = None) -> dict[str, Any]:
    """Read the answer to ``exercise_id`` from the notebook's globals ``env`` as plain data."""
    from .._core import _evaluate, exercise

    ex = exercise(exercise_id)
    out: dict[str, Any] = {"exercise": exercise_id}
    if ex.answer not in env:
        out.update(status="missing")
        return out
    value = env[ex.answer]
    if value is ...:
        out.update(status="unanswered")
    elif ex.kind == "number":
        out.update(_number_record(value))
    elif ex.kind == "expression":
        out.update(_expression_record(value))
    elif ex.kind == "text":
        out.update(_text_record(value))
    elif ex.kind == "function":
        if not callable(value):
            out.update(status="error", message=f"{ex.answer} is a {type(value).__name__}, not a function")
        else:
            recorder = _Recorder(value)
            _evaluate(ex, recorder, ex.params(student))  # its verdict is ignored: only the calls count
            out.update(status="value", calls=recorder.calls)
    return out


def emit(exercise_id: str, env: dict[str, Any], student: str | None = None) -> None:
    """Display the record of ``exercise_id``'s answer (the grader's runner collects it)."""
    import json

    from IPython.display import display

    try:
        rec = record(exercise_id, env, student)
    except Exception as err:  # noqa: BLE001 - report, never crash the runner's cell
        rec = {"exercise": exercise_id, "status": "error",
               "message": f"reading the answer raised {type(err).__name__}: {str(err)[:200]}"}
    display({ANSWER_MIME: json.loads(json.dumps(rec, default=str))}, raw=True)


# ---- In the grader ------------------------------------------------------------------------------------

class AnswerError(ValueError):
    """A record that cannot be turned into an answer (malformed, too large, or not allowed)."""


def _decode_value(value: Any, depth: int = 0) -> Any:
    import torch

    if depth > 8:
        raise AnswerError("a recorded value is nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_decode_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if "__float__" in value:
            text = value["__float__"]
            if text not in ("nan", "inf", "-inf"):
                raise AnswerError("a recorded number is malformed")
            return float(text)
        if "__tuple__" in value:
            return tuple(_decode_value(value["__tuple__"], depth + 1))
        if "__tensor__" in value:
            data = _decode_value(value["__tensor__"], depth + 1)
            dtype = {"torch.float64": torch.float64, "torch.float32": torch.float32, "torch.int64": torch.int64,
                     "torch.int32": torch.int32, "torch.bool": torch.bool, "float64": torch.float64,
                     "float32": torch.float32, "int64": torch.int64, "int32": torch.int32,
                     "bool": torch.bool}.get(str(value.get("dtype")))
            try:
                return torch.tensor(data, dtype=dtype)
            except (TypeError, ValueError, RuntimeError) as err:
                raise AnswerError(f"a recorded tensor is malformed: {err}") from None
        if "__record__" in value and isinstance(value.get("fields"), dict):
            fields = {str(k)[:60]: _decode_value(v, depth + 1) for k, v in value["fields"].items()}
            return types.SimpleNamespace(**fields)  # a dataclass instance, as its fields
        if "__object__" in value:
            return _Opaque(str(value["__object__"])[:80])
    raise AnswerError("a recorded value has an unknown form")


class _Opaque:
    """Stands for an object the kernel could not send as data (checks treat it as a wrong answer)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


class RecordedError(Exception):
    """An exception the student's function raised in the kernel, replayed by name and message."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.student_type = name


class Replay:
    """A student's function, replayed from the outputs the kernel recorded for the check's own inputs."""

    def __init__(self, calls: list[dict[str, Any]]) -> None:
        self._calls = {}
        for call in calls:
            if not isinstance(call, dict) or "args" not in call:
                raise AnswerError("a recorded call is malformed")
            key = _canonical(call["args"])
            self._calls.setdefault(key, call)  # the first result for these arguments counts

    def __call__(self, *args: Any) -> Any:
        call = self._calls.get(_canonical(_encode_value(list(args))))
        if call is None:
            raise RuntimeError("your function did not run on the check's inputs (it stopped or failed before)")
        if "raised" in call:
            raise RecordedError(str(call["raised"])[:60], str(call.get("message", ""))[:300])
        return _decode_value(call.get("result"))


def _canonical(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# Expressions: a parser for arithmetic on known names, built into sympy objects without eval.
_FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sinh", "cosh", "Abs", "Sigmoid", "sigmoid")
_MAX_NODES, _MAX_INT = 400, 10**6


def parse_expression(text: str, symbols: dict[str, Any]) -> Any:
    """A sympy expression from ``text`` using only ``symbols``, numbers, + - * / ** and known functions."""
    import sympy as sp

    from ...symbolic import Sigmoid

    if not isinstance(text, str) or len(text) > MAX_EXPRESSION_CHARS:
        raise AnswerError("the expression is missing or too long")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise AnswerError("the expression is not valid Python syntax") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > _MAX_NODES:
        raise AnswerError(f"the expression has more than {_MAX_NODES} parts")
    functions = {"exp": sp.exp, "log": sp.log, "sqrt": sp.sqrt, "sin": sp.sin, "cos": sp.cos, "tan": sp.tan,
                 "tanh": sp.tanh, "sinh": sp.sinh, "cosh": sp.cosh, "Abs": sp.Abs, "Sigmoid": Sigmoid,
                 "sigmoid": Sigmoid}
    constants = {"E": sp.E, "pi": sp.pi}
    ops = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b}

    def build(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            if isinstance(node.value, int):
                if abs(node.value) > _MAX_INT:
                    raise AnswerError("a number in the expression is too large")
                return sp.Integer(node.value)
            if not math.isfinite(node.value):
                raise AnswerError("a number in the expression is not finite")
            return sp.Float(node.value)
        if isinstance(node, ast.Name):
            if node.id in symbols:
                return symbols[node.id]
            if node.id in constants:
                return constants[node.id]
            raise AnswerError(f"the expression uses the unknown name {node.id[:40]!r}")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = build(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in ops:
            return ops[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            base, power = build(node.left), build(node.right)
            if power.is_number and (not power.is_finite or abs(float(power)) > 64):
                raise AnswerError("an exponent in the expression is too large")
            if base.is_number and power.is_number and abs(float(power)) * math.log(abs(float(base)) + 2) > 700:
                raise AnswerError("a power in the expression is too large")
            return base ** power
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in functions
                and not node.keywords and len(node.args) == 1):
            return functions[node.func.id](build(node.args[0]))
        raise AnswerError(f"the expression contains something other than arithmetic ({type(node).__name__})")

    try:
        return build(tree)
    except (RecursionError, OverflowError, ZeroDivisionError, TypeError, ValueError) as err:
        if isinstance(err, AnswerError):
            raise
        raise AnswerError(f"the expression cannot be built: {type(err).__name__}") from None


EXPRESSION_SYMBOLS = {"4.1": ("z",), "4.2": ("yhat", "y", "w", "h", "x")}


def decode(exercise_id: str, kind: str, rec: dict[str, Any]) -> Any:
    """The answer a valid record stands for, ready for lmlib's check; ``AnswerError`` if it is malformed."""
    import sympy as sp

    if kind == "number":
        if "int" in rec:
            text = str(rec["int"])
            if len(text) > 20 or not text.lstrip("-").isdigit():
                raise AnswerError("a recorded integer is malformed")
            return int(text)
        try:
            return float(str(rec.get("float"))[:40])
        except ValueError:
            raise AnswerError("a recorded number is malformed") from None
    if kind == "expression":
        names = EXPRESSION_SYMBOLS.get(exercise_id)
        if names is None:
            raise AnswerError(f"exercise {exercise_id} takes no expression")
        return parse_expression(rec.get("expression"), {n: sp.Symbol(n) for n in names})
    if kind == "text":
        text = rec.get("text")
        if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
            raise AnswerError("the recorded text is missing or too long")
        return text
    if kind == "function":
        calls = rec.get("calls")
        if not isinstance(calls, list) or len(calls) > 100:
            raise AnswerError("the recorded calls are malformed")
        return Replay(calls)
    raise AnswerError(f"exercise {exercise_id} has no automatic check")
