"""The web dashboard: static files served at ``/`` by the API (no CDN, no build step).

The page itself holds no data: every number comes from the API, called with the
key the user enters once (kept in the browser's localStorage).
"""
