"""Préau's client of Janus (VideoRoom plugin), and the SfuBackend built on it.

- ``protocol``: the Janus API's messages and replies, without I/O.
- ``session``: one Janus session over the HTTP API (httpx), kept alive by its
  long poll; handles, transactions, events routed to their handle.
- ``backend``: :class:`~preau.rtc.sfu.SfuBackend` on VideoRoom.
- ``assign``: which Janus instance serves which call.

Janus is reached only by Préau (its API on loopback or a private network);
clients reach it only with media (UDP).
"""
