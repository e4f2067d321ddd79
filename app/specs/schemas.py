"""The answers of the specs routes: a spec's summary, and the recipes."""

from pydantic import BaseModel, Field

from app.core.settings import Settings
from app.specs import network
from app.specs.recipes import Recipe
from app.specs.spec import TrainingSpec


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


class CostOut(BaseModel):
    """What training the network would take, by the estimate the server admits specs by."""

    training_memory_bytes: int = Field(
        description="Weights, optimizer and one batch's activations."
    )
    weights_bytes: int
    optimizer_bytes: int = Field(description="Gradients and optimizer state.")
    activations_bytes: int = Field(description="One batch's activations, kept for backprop.")
    max_parameters: int = Field(description="This server's limit (SENTIMENT_MAX_PARAMETERS).")
    max_training_memory_bytes: int = Field(
        description="This server's limit (SENTIMENT_MAX_TRAINING_MEMORY)."
    )


class SpecSummary(BaseModel):
    layers: list[LayerOut]
    parameters: ParameterCounts
    estimate: CostOut

    @classmethod
    def of(cls, cost: network.TrainingCost, layers: list[network.Layer], settings: Settings
           ) -> "SpecSummary":  # fmt: skip
        return cls(
            layers=[
                LayerOut(
                    name=layer.name,
                    type=layer.type,
                    output_shape=list(layer.output_shape),
                    parameters=layer.parameters,
                    trainable=layer.trainable,
                )
                for layer in layers
            ],
            parameters=ParameterCounts(
                total=cost.parameters.total,
                trainable=cost.parameters.trainable,
                non_trainable=cost.parameters.non_trainable,
            ),
            estimate=CostOut(
                training_memory_bytes=cost.memory_bytes,
                weights_bytes=cost.weights_bytes,
                optimizer_bytes=cost.optimizer_bytes,
                activations_bytes=cost.activations_bytes,
                max_parameters=settings.max_parameters,
                max_training_memory_bytes=int(settings.max_training_memory),
            ),
        )


class RecipeOut(BaseModel):
    name: str
    description: str
    spec: TrainingSpec
    course_accuracy: float | None = Field(description="What the course reports, if it does.")
    course_metric: str | None = Field(description="test or validation")

    @classmethod
    def of(cls, recipe: Recipe) -> "RecipeOut":
        return cls(
            name=recipe.name,
            description=recipe.description,
            spec=recipe.spec,
            course_accuracy=recipe.course_accuracy,
            course_metric=recipe.course_metric,
        )


class RecipePage(BaseModel):
    items: list[RecipeOut]
