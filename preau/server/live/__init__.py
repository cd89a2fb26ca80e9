"""The live fan-out, below the services: what every service that tells
clients something uses, and what both WebSocket endpoints share.

- ``hub.py``: the :class:`~preau.server.live.hub.Hub` and its per-room
  :class:`~preau.server.live.hub.RoomFeed` (ordered delivery, gap fill, resume,
  audiences, control channels);
- ``channels.py``: broker channel names and the room channel's message format
  (with its :class:`~preau.server.live.channels.Audience`);
- ``events.py``: server-to-client event encoding (JSON, encoded once);
- ``frames.py``: WebSocket framing without I/O (framed once per fan-out);
- ``outbox.py``: a socket's bounded outbound side (``/ws`` and ``/collab``);
- ``connection.py``: one ``/ws`` socket as the hub sees it;
- ``handshake.py``: the upgrade checks both endpoints run (Origin, session,
  member, socket cap, refusal).

Layer rule (checked by import-linter, pyproject.toml): nothing here imports a
service (chat, moderation, auth, documents, calls, privacy, the directory's
service), the gateway or the HTTP layer. What the hub needs of the
directory and the sessions it takes through the small Protocols below
(:class:`~preau.server.live.hub.DirectoryView`, :class:`~preau.server.live.connection.SessionRef`);
it may use the pure domain modules (``preau.server.directory.model``/``rules``,
``preau.server.moderation.rules``), the store, the broker and presence.
"""
