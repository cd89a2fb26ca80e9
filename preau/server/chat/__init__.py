"""Live class chat: posting, history, and how a message looks on the wire."""
