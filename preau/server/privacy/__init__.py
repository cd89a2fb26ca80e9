"""Data protection for minors (docs/data-protection.md): export, erasure,
retention, the access journal. The SQL lives in preau/server/store/privacy.py."""
