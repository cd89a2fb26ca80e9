"""Data protection for minors (docs/data-protection.md): export, erasure,
retention, the access journal. The SQL lives in server/store/privacy.py."""
