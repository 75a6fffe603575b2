"""Supabase Auth as a provider: the project's published JWT signing keys."""
