"""How a training run is stopped before it has a model to show (no TensorFlow here,
so the worker's parent process can import it)."""


class TrainingStopped(Exception):
    """Raised between preparation steps when the run's ``should_stop`` says so."""
