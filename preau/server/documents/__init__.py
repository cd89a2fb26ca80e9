"""Shared documents, the host side: rights, the ``/collab`` endpoint, the service.

The CRDT work lives in ``preau/collab/``; this package adapts it to the server
(directory, circle of trust, store, broker). See docs/collab.md.
"""
