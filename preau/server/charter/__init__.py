"""The charter of use: each school's versioned text and who accepted it (docs/moderation.md)."""
