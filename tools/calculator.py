"""calculate: exact arithmetic, so the bot never guesses a sum.

The expression is parsed with `ast` and only numbers, parentheses and the operators
+ - * / // % ** are evaluated; names, calls and attributes are rejected, and sizes are
bounded so that no argument can make the service compute for long.
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Annotated, Any

from pydantic import Field

MAX_EXPRESSION_CHARS = 200
MAX_EXPONENT = 100
MAX_MAGNITUDE = 10**30

TOOL_SPEC = {
    "name": "calculate",
    "description": "Evaluate an arithmetic expression exactly (+ - * / // % ** and parentheses).",
    "timeout_seconds": 2.0,
    "scope": "chat",  # read-only arithmetic: any chat user
    # Messages the embedding router sends to this tool (models without tool calling).
    "examples": [
        "What is 17 * 23?",
        "Calculate 1250 / 5",
        "How much is 3 + 4 * 12?",
        "Compute (120 - 45) * 3",
        "What's 2 ** 10?",
        "calculate 15% of 80",
        "What is 99 divided by 3?",
        "How much is 48 times 12?",
    ],
}

_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_WORDS = [
    (r"\bdivided by\b", "/"),
    (r"\b(?:times|multiplied by)\b", "*"),
    (r"\bplus\b", "+"),
    (r"\bminus\b", "-"),
    (r"(\d+(?:\.\d+)?)\s*%\s*of\s*(\d+(?:\.\d+)?)", r"(\1 / 100 * \2)"),
]
_EXPRESSION = re.compile(r"[-+(]*\s*\d[\d\s.+\-*/%()]*")


class CalculationError(ValueError):
    """The expression is not plain arithmetic, or is too large to evaluate."""


def _evaluate(node: ast.AST) -> float | int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculationError(f"exponents above {MAX_EXPONENT} are not evaluated")
        try:
            value = _OPERATORS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise CalculationError("division by zero") from None
        if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
            raise CalculationError("the result is out of range")
        return value
    raise CalculationError(f"unsupported element: {type(node).__name__}")


def calculate(
    expression: Annotated[str, Field(max_length=MAX_EXPRESSION_CHARS,
                                     description="The arithmetic expression, e.g. '(3 + 4) * 12'")],
) -> dict[str, Any]:
    """Evaluate `expression`; returns the expression, its value and a one-line summary."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"expressions are limited to {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise CalculationError(f"not an arithmetic expression: {expression!r}") from None
    value = _evaluate(tree.body)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, float):
        value = round(value, 10)
    expression = expression.strip()
    return {"expression": expression, "value": value, "summary": f"{expression} = {value}"}


def extract_arguments(message: str) -> dict[str, Any] | None:
    """Arguments from a plain-language request, for chat models without tool calling."""
    text = message.lower()
    for pattern, replacement in _WORDS:
        text = re.sub(pattern, replacement, text)
    candidates = [m.group(0).strip() for m in _EXPRESSION.finditer(text)]
    candidates = [c.rstrip(" .") for c in candidates if re.search(r"\d\s*[-+*/%]", c)]
    if not candidates:
        return None
    return {"expression": max(candidates, key=len)}
