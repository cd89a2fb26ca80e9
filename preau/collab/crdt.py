"""pycrdt calls on untrusted bytes, made safe to call from the event loop.

pycrdt raises ``ValueError`` for bytes that do not decode, but a Rust panic
inside yrs surfaces as ``pyo3_runtime.PanicException``, which derives from
``BaseException``: an ordinary ``except Exception`` would let one crafted
update kill the connection handler. These helpers turn any failure except
the interpreter's own control flow into ``False``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Doc, get_state, get_update

log = logging.getLogger(__name__)

_CONTROL_FLOW = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


def decodes(update: bytes) -> bool:
    """Does ``update`` decode as a Yjs v1 update (without integrating it anywhere)?"""
    try:
        get_state(update)
    except _CONTROL_FLOW:
        raise
    except BaseException:
        return False
    return True


def apply(doc: Doc[Any], update: bytes) -> bool:
    """Integrate ``update`` into ``doc``; False (logged) if pycrdt refused it."""
    try:
        doc.apply_update(update)
    except _CONTROL_FLOW:
        raise
    except BaseException as exc:
        log.warning("update of %d bytes did not apply: %s", len(update), exc)
        return False
    return True


def diff(update: bytes, state_vector: bytes) -> bytes | None:
    """What ``update`` holds beyond ``state_vector`` (Yjs' diffUpdate), or None."""
    try:
        return get_update(update, state_vector)
    except _CONTROL_FLOW:
        raise
    except BaseException:
        return None


def missing_for(doc: Doc[Any], state_vector: bytes) -> bytes | None:
    """What a peer with ``state_vector`` lacks (a SyncStep2), or None for a bad vector."""
    try:
        return doc.get_update(state_vector)
    except _CONTROL_FLOW:
        raise
    except BaseException:
        return None
