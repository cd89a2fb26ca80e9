"""Stock Yjs (tests/collab/node/oracle.mjs) as an oracle: what does a Yjs client
make of these bytes? One Node process, one JSON line per question."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

from tests.collab.node_client import NODE_DIR, require_node


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class YjsOracle:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [require_node(), "oracle.mjs"], cwd=NODE_DIR, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer

    def apply(self, updates: list[bytes]) -> dict[str, Any]:
        """A new Y.Doc after applying ``updates`` in order: {"ok", "dump", "state"}
        or {"ok": False, "error"} if Yjs threw."""
        return self._ask({"op": "apply", "updates": [_b64(u) for u in updates]})

    def make(self, steps: list[dict[str, Any]]) -> list[bytes] | None:
        """The updates of a real editing session (see oracle.mjs), or None if
        Yjs refused a step (an index out of range)."""
        answer = self._ask({"op": "make", "steps": steps})
        if "updates" not in answer:
            return None
        return [base64.b64decode(u) for u in answer["updates"]]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
