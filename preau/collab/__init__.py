"""CRDT shared documents (Yjs wire protocol on pycrdt).

Lands with the shared-documents issue. This package never imports Starlette,
Redis, asyncpg or ``server`` internals: it receives a broker, a store and an
authoriser through small Protocols (see shared/DESIGN.md §2).
"""
