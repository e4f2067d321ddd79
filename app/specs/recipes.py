"""Named training specs: the course's experiments, with its hyperparameters.

Each uses frozen 100-d pretrained embeddings (``imdb-word2vec``), the last 100
tokens of each review, batch 128 and a 0.2 validation split, as the course did.
``course_accuracy`` is the figure the course reports for it, where it reports one.
"""

from dataclasses import dataclass

from app.core.errors import ErrorCode, NotFound
from app.specs.spec import TrainingSpec


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    spec: TrainingSpec
    course_accuracy: float | None = None
    course_metric: str | None = None  # "test" or "validation"


def _spec(**fields: object) -> TrainingSpec:
    return TrainingSpec.model_validate(fields)


# `best`'s network: a binarized bag of n-grams up to trigrams with NB weights, averaged.
NB_TRIGRAM_SEQUENCE: dict[str, object] = {
    "max_len": 2000,
    "vocab_size": 1_000_000,
    "ngrams": 3,
    "binary": True,
    "nb_weights": True,
}
NB_TRIGRAM_BAG: dict[str, object] = {
    "architecture": "dense",
    "pooling": "average",
    "embedding": {"dim": 8, "pretrained": None, "trainable": True},
    "sequence": NB_TRIGRAM_SEQUENCE,
}


def _nb_trigram_bag(
    name: str, learning_rate: float, epochs: int, min_movies: int = 1
) -> TrainingSpec:
    """`best`'s network as its recipes train it: Adam, batch 32, 5% held out (for the
    temperature)."""
    return _spec(
        name=name,
        **(NB_TRIGRAM_BAG | {"sequence": NB_TRIGRAM_SEQUENCE | {"min_movies": min_movies}}),
        optimizer={"name": "adam", "learning_rate": learning_rate},
        epochs=epochs,
        batch_size=32,
        validation_split=0.05,
    )


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "course-dense",
            "Embedding, Flatten and the sigmoid output; Adam, 6 epochs.",
            _spec(name="course-dense", architecture="dense", epochs=6),
            0.73,
            "test",
        ),
        Recipe(
            "course-dense-12-8",
            "The dense network with hidden Dense layers of 12 and 8 ReLU units.",
            _spec(name="course-dense-12-8", architecture="dense", hidden_layers=[12, 8], epochs=6),
            0.72,
            "test",
        ),
        Recipe(
            "course-lstm-128",
            "LSTM(128); Adam, 6 epochs: every default of the spec.",
            _spec(name="course-lstm-128"),
            0.85,
            "validation",
        ),
        Recipe(
            "course-gru-32",
            "GRU(32); RMSProp, 10 epochs.",
            _spec(
                name="course-gru-32",
                architecture="gru",
                units=32,
                optimizer={"name": "rmsprop"},
                epochs=10,
            ),
            0.85,
            "validation",
        ),
        Recipe(
            "course-gru-32-dropout",
            "GRU(32) with dropout 0.2 and recurrent dropout 0.2; RMSProp, 10 epochs.",
            _spec(
                name="course-gru-32-dropout",
                architecture="gru",
                units=32,
                dropout=0.2,
                recurrent_dropout=0.2,
                optimizer={"name": "rmsprop"},
                epochs=10,
            ),
        ),
        Recipe(
            "course-simple-rnn",
            "SimpleRNN(32); RMSProp, 10 epochs.",
            _spec(
                name="course-simple-rnn",
                architecture="simple_rnn",
                units=32,
                optimizer={"name": "rmsprop"},
                epochs=10,
            ),
        ),
        Recipe(
            "best",
            "A binarized bag of words, bigrams and trigrams (the 1,000,000 most frequent "
            "n-grams of the training reviews; the last 2,000 of each review, each counted "
            "once), each n-gram's 8-d vector learned from scratch and scaled by its fixed "
            "Naive-Bayes log-count ratio, averaged over the review, then the sigmoid output; "
            "an n-gram that the fit reviews hold in fewer than 8 movies weighs nothing "
            "(sequence.min_movies). Adam at 0.01, batch 32, 2 epochs: the rate chosen on "
            "validation, min_movies and the epochs on held-out blocks of movies "
            "(bench/best_recipe.py). 0.9217 on the test set, scored once, in about 3 minutes "
            "from scratch on 2 cores (docs/benchmarks.md).",
            _nb_trigram_bag("best", learning_rate=0.01, epochs=2, min_movies=8),
        ),
        Recipe(
            "best-every-ngram",
            "The previous `best`: the same network, every n-gram weighing (min_movies 1), "
            "so it learns one movie's names too; Adam at 0.01, batch 32, 5 epochs, chosen on "
            "a validation split of single reviews. 0.9215 on the test set, scored once "
            "(docs/benchmarks.md).",
            _nb_trigram_bag("best-every-ngram", learning_rate=0.01, epochs=5),
        ),
        Recipe(
            "best-adam-0.002",
            "The previous `best`: the same network with Adam at 0.002 for 6 epochs, chosen "
            "while reading the test set (its figure, 0.9221, is optimistic for that reason).",
            _nb_trigram_bag("best-adam-0.002", learning_rate=0.002, epochs=6),
        ),
        Recipe(
            "best-bigram-bag",
            "The previous `best`: a bag of words and word pairs (bigrams), the 400,000 most "
            "frequent, embedded in 32 dimensions learned from scratch, averaged over the "
            "review (padding masked), dropout 0.5, then the sigmoid output, as fastText does; "
            "Adam at 0.002, batch 32, 6 epochs. 0.905 on the test set in about 3 minutes on "
            "2 cores (docs/benchmarks.md).",
            _spec(
                name="best-bigram-bag",
                architecture="dense",
                pooling="average",
                embedding={"dim": 32, "pretrained": None, "trainable": True},
                sequence={"max_len": 800, "vocab_size": 400_000, "ngrams": 2},
                dropout=0.5,
                optimizer={"name": "adam", "learning_rate": 0.002},
                epochs=6,
                batch_size=32,
                validation_split=0.05,
            ),
        ),
    )
}


def find(name: str) -> Recipe:
    recipe = RECIPES.get(name)
    if recipe is None:
        raise NotFound(
            ErrorCode.RECIPE_NOT_FOUND, f"No recipe named {name!r}; the recipes: {sorted(RECIPES)}."
        )
    return recipe
