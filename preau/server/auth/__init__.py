"""Accounts and sessions: activation, argon2id passwords, session tokens."""
