"""Training library: IMDB data, text vectorization, embeddings, models, export.

The Celery task and the command line (``python -m worker.training``) call
:func:`worker.training.pipeline.train`.
"""
