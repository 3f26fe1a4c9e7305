"""Public functions that share a parameter list, written once.

``dropout_with_state`` takes exactly the parameters of ``dropout_with_mask``, and
``dropout_apply`` those of ``dropout_backward``: the second of each pair is a one-line
``def`` whose annotations come from the first, matched by position (:func:`twin`), so a
parameter's type is written in one place and ``inspect.signature`` shows both in full.
The functions a factory makes per rank (``dropout1d/2d/3d``, ``drop_block2d/3d`` and their
``_with_*`` forms) take theirs from one table (:func:`annotated`). Imports nothing of the
package.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional


def _parameters(f: Callable[..., Any]) -> tuple:
    code = f.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def publish(
    op: Callable[..., Any], owner: str, name: str, doc: str, annotations: Mapping[str, Any]
) -> Any:
    """``op`` published as ``<owner>.<name>`` with ``doc`` and ``annotations``."""
    op.__name__ = name
    op.__qualname__ = f"{owner}.{name}"
    op.__doc__ = doc
    op.__annotations__ = dict(annotations)
    return op


def annotated(
    op: Callable[..., Any], owner: str, name: str, doc: str, table: Mapping[str, Any], returns: str
) -> Any:
    """``op`` published as ``<owner>.<name>``, each parameter annotated as ``table`` names
    it (``self`` aside) and the result as ``returns``: for functions that a factory makes
    once per rank or kind."""
    annotations = {k: table[k] for k in _parameters(op)[1:]}
    annotations["return"] = returns
    return publish(op, owner, name, doc, annotations)


def twin(
    model: Callable[..., Any],
    op: Callable[..., Any],
    name: str,
    doc: str,
    returns: Optional[str] = None,
) -> Any:
    """``op`` published as ``name`` beside ``model``: its ``k``-th parameter gets the
    annotation of ``model``'s ``k``-th (``op`` may rename them, never reorder, add or give
    them other defaults), and its return annotation is ``returns`` (default: ``model``'s)."""
    mine, theirs = _parameters(op), _parameters(model)
    if len(mine) != len(theirs):
        raise TypeError(f"{name} must take the {len(theirs)} parameters of {model.__name__}")
    defaults = [(f.__defaults__, list((f.__kwdefaults__ or {}).values())) for f in (op, model)]
    if defaults[0] != defaults[1]:
        raise TypeError(f"{name} must have the defaults of {model.__name__}")
    src = model.__annotations__
    annotations = {m: src[t] for m, t in zip(mine, theirs) if t in src}
    annotations["return"] = returns if returns is not None else src["return"]
    owner = model.__qualname__.rpartition(".")[0]
    return publish(op, owner, name, doc, annotations)
