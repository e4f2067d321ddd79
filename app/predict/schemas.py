"""The predict contract."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import UnicodeText
from app.predict.service import Scored


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
                }
            ]
        },
    )

    texts: list[UnicodeText] = Field(min_length=1, description="Reviews to score, raw text.")


class Prediction(BaseModel):
    probability: float = Field(description="P(positive), from 0 to 1.")
    label: Literal["positive", "negative"] = Field(description="positive when probability >= 0.5.")
    model_version: int = Field(description="The model version that scored this text.")


class PredictResponse(BaseModel):
    model_version: int
    model_name: str
    predictions: list[Prediction]

    @classmethod
    def of(cls, scored: Scored) -> "PredictResponse":
        return cls(
            model_version=scored.version,
            model_name=scored.name,
            predictions=[
                Prediction(
                    probability=p,
                    label="positive" if p >= 0.5 else "negative",
                    model_version=scored.version,
                )
                for p in scored.probabilities
            ],
        )
