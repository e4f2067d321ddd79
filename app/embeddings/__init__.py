"""The embedding explorer: nearest words and 2-D projections of word vectors."""
