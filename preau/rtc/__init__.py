"""WebRTC signalling for group video study (mesh and SFU control plane).

Lands with the video issue. Like ``collab``, it stays free of any web
framework or driver import and is tested without a network.
"""
