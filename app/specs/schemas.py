"""The answer of POST /v1/specs/summary."""

from pydantic import BaseModel, Field


class LayerOut(BaseModel):
    name: str
    type: str = Field(description="The Keras layer class: Embedding, LSTM, Dense, ...")
    output_shape: list[int | None] = Field(description="None stands for the batch.")
    parameters: int
    trainable: bool


class ParameterCounts(BaseModel):
    total: int
    trainable: int
    non_trainable: int


class SpecSummary(BaseModel):
    layers: list[LayerOut]
    parameters: ParameterCounts
