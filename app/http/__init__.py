"""The HTTP edge: error mapping, request dependencies and middleware."""
