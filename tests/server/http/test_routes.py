"""The REST route table assembled from the resource modules (preau/server/http/routes.py)."""

from __future__ import annotations

from collections import Counter

from preau.server.http.routes import ENDPOINTS, api_routes


def _may_overlap(a: str, b: str) -> bool:
    """Whether some URL matches both path templates (a ``{param}`` takes one segment)."""
    left, right = a.split("/"), b.split("/")
    return len(left) == len(right) and all(
        x == y or x.startswith("{") or y.startswith("{") for x, y in zip(left, right, strict=True)
    )


def test_each_path_and_method_is_served_once() -> None:
    twice = [k for k, n in Counter((ep.path, ep.method) for ep in ENDPOINTS).items() if n > 1]
    assert twice == []


def test_no_two_paths_overlap_so_module_order_does_not_matter() -> None:
    paths = sorted({ep.path for ep in ENDPOINTS})
    overlapping = [(a, b) for i, a in enumerate(paths) for b in paths[i + 1:]
                   if _may_overlap(a, b)]
    assert overlapping == []


def test_every_endpoint_is_mounted_under_api() -> None:
    mounted = {(r.path, method) for r in api_routes() for method in (r.methods or ())}
    assert {(ep.path, ep.method) for ep in ENDPOINTS} <= mounted
    assert all(ep.path.startswith("/api/") for ep in ENDPOINTS)
