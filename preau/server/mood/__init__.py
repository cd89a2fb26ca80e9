"""The mood of the day for kindergarten and primary classes (docs/protocol.md,
"Mood of the day"): the pictures and the day's rules (``rules.py``, pure), the
service (``service.py``)."""
