"""What a spec would build, before anything trains."""
