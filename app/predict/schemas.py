"""The predict contract."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import UnicodeText
from app.predict.explanations import Explanation
from app.predict.service import Scored

EXPLAIN_TOP_DEFAULT, EXPLAIN_TOP_MAX = 10, 100


class PredictRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "texts": [
                        "A wonderful, moving film.",
                        "Boring, badly acted and far too long. A waste of time.",
                    ]
                },
                {"texts": ["Not good at all, though the music is great."], "explain": True},
            ]
        },
    )

    texts: list[UnicodeText] = Field(min_length=1, description="Reviews to score, raw text.")
    explain: bool = Field(
        False,
        description="Answer, with each score, the words and n-grams that moved it and by "
        'how much (README, "Explanations"). Costs more: at most '
        "SENTIMENT_EXPLAIN_MAX_TEXTS texts, and a rate of its own.",
    )
    explain_top: int = Field(
        EXPLAIN_TOP_DEFAULT,
        ge=1,
        le=EXPLAIN_TOP_MAX,
        description="With `explain`: how many tokens to list, the largest contributions first.",
    )


class Span(BaseModel):
    word: int = Field(description="The index of the token's first word in the text.")
    start: int | None = Field(
        None,
        description="Its first character, `text[start:end]` (code points); absent where "
        "the text's words could not be placed (a character whose lowercase is two).",
    )
    end: int | None = None


class TokenContribution(BaseModel):
    token: str = Field(description="A word, or two or three words (an n-gram), lowercased.")
    contribution: float = Field(description="Its share of the logit, every occurrence summed.")
    spans: list[Span] = Field(description="Where it occurs.")


class WordContribution(BaseModel):
    word: int
    start: int | None = Field(None, description="As a span's: absent where not placed.")
    end: int | None = None
    contribution: float = Field(
        description="Its share of the logit: each n-gram's contribution split equally "
        "between its words."
    )


class ExplanationOut(BaseModel):
    method: Literal["exact", "integrated_gradients"]
    base_value: float = Field(description="The logit the contributions add up from.")
    logit: float = Field(description="log(p / (1 - p)) of the probability.")
    tokens: list[TokenContribution] = Field(
        description="The tokens that moved the score most, the largest contributions first."
    )
    other: float = Field(
        description="The other tokens' contributions, summed: base_value + the tokens' "
        "contributions + other = logit (within integrated gradients' error)."
    )
    words: list[WordContribution] = Field(description="Every word the model read, in order.")


class Prediction(BaseModel):
    probability: float = Field(description="P(positive), from 0 to 1.")
    label: Literal["positive", "negative"] = Field(description="positive when probability >= 0.5.")
    model_version: int = Field(description="The model version that scored this text.")
    explanation: ExplanationOut | None = Field(None, description="With `explain` only.")


class PredictResponse(BaseModel):
    model_version: int
    model_name: str
    predictions: list[Prediction]

    @classmethod
    def of(cls, scored: Scored, explanations: list[Explanation] | None = None) -> "PredictResponse":
        """The answer for ``scored``, each text with its explanation when given."""
        return cls(
            model_version=scored.version,
            model_name=scored.name,
            predictions=[
                Prediction(
                    probability=p,
                    label="positive" if p >= 0.5 else "negative",
                    model_version=scored.version,
                    explanation=(
                        None
                        if explanations is None
                        else ExplanationOut.model_validate(
                            explanations[index], from_attributes=True
                        )
                    ),
                )
                for index, p in enumerate(scored.probabilities)
            ],
        )
