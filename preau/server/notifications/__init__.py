"""The notification centre: what concerns a person, stored, listed, pushed live."""
