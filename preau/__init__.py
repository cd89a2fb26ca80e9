"""Préau: the real-time server of a school digital workspace (ENT).

One package: ``preau.server`` (the service, its store, gateway and HTTP
layers), ``preau.collab`` (shared documents: the y-websocket protocol and
rooms, no I/O framework) and ``preau.rtc`` (WebRTC signalling and media
helpers). The Python SDK is its own package, ``preau_client``
(clients/python), and depends on nothing here.
"""
