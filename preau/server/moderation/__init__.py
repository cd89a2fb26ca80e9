"""Moderation of rooms: roles and modes, pre-moderation, teacher tools, audit log."""
