"""The core every part of the service shares: settings, database, types, logging and
domain errors. Nothing here imports a web framework or TensorFlow."""
