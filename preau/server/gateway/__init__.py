"""The WebSocket gateway (``GET /ws``): one socket per client, JSON frames, multiplexed."""
