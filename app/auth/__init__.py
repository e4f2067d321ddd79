"""Access control: API keys with scopes, stored only as hashes (docs/security.md)."""
