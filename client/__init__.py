"""``sentiment``: the command-line client of the IMDB sentiment service (httpx + rich)."""
