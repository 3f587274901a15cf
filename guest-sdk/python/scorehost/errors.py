"""Errors an entry script raises on purpose, in either Python runtime.

`BadInput` is scorehost's own (the Azure ML server has no such class: there, every exception
from `run` is a 500): raise it when a request does not fit the model, and the client gets 400
with its message instead of the generic 500.
"""

__all__ = ["BadInput"]


class BadInput(Exception):
    """Raise from `run` when the request does not fit the model: the client gets 400 with
    the message (any other exception is a 500)."""
