"""Attachments: files in chat, private conversations and documents (issue 13).

The content checks, each a small module with no I/O framework and no store
(docs/attachments.md, "Content checks"):

- ``sniff.py``: what a file is, from its bytes (never its name), against an
  allow-list of kinds (document, image, audio, video); refusals with a reason.
- ``images.py``: images decoded within a pixel budget, oriented, re-encoded
  without any metadata (GPS, camera serials, XMP, comments), thumbnailed.
- ``scanning.py``: the ``Scanner`` interface and clamd's INSTREAM client.
- ``inspect.py``: the one entry point, ``inspect_upload``, which runs the
  above off the event loop and answers ``Inspected`` or raises ``FileRefused``.

The service that stores, binds and serves attachments is ``service.py``.
"""
