"""GET /v1/embeddings/neighbors and POST /v1/embeddings/projection."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from app.auth.deps import AnyKey
from app.core.db import Database
from app.core.settings import Settings
from app.core.types import UnicodeText
from app.embeddings import service
from app.http.deps import DatabaseDep, SettingsDep
from app.http.errors import error_responses
from app.http.params import Digits

router = APIRouter(
    prefix="/v1/embeddings",
    tags=["embeddings"],
    responses=error_responses(
        401, 403, 404, 409, 422, 503,
        e404="An unknown word, or no such model version.",
        e409="The vectors are not available yet (not trained, or not exported).",
    ),
)  # fmt: skip

Word = Annotated[UnicodeText, Field(min_length=1, max_length=100)]


class Neighbor(BaseModel):
    word: str
    similarity: float = Field(description="Cosine similarity, from -1 to 1.")


class NeighborsOut(BaseModel):
    source: str
    word: str
    neighbors: list[Neighbor]


class ProjectionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"words": ["joy", "happiness", "hatred", "great"]}]},
    )
    words: list[Word] = Field(min_length=2, max_length=200)
    version: int | None = Field(
        None, strict=True, ge=1, le=2**31 - 1, description="A model version; null: imdb-word2vec."
    )
    dim: int = Field(100, strict=True, ge=2, le=1024, description="imdb-word2vec's width.")


class Point(BaseModel):
    word: str
    x: float
    y: float


class ProjectionOut(BaseModel):
    source: str
    points: list[Point]


async def vectors_cache(request: Request) -> service.VectorsCache:
    cache: service.VectorsCache = request.app.state.vectors
    return cache


CacheDep = Annotated[service.VectorsCache, Depends(vectors_cache)]


def _vectors(
    version: int | None,
    dim: int,
    settings: Settings,
    database: Database,
    cache: service.VectorsCache,
) -> service.WordVectors:
    if version is None:
        return service.word2vec(dim, settings, cache)
    with database.session_scope() as session:
        return service.model_embedding(session, version, settings, cache)


@router.get(
    "/neighbors",
    response_model=NeighborsOut,
    summary="The nearest words by cosine similarity, in imdb-word2vec or a model's embedding",
)
async def get_neighbors(
    caller: AnyKey,
    settings: SettingsDep,
    database: DatabaseDep,
    cache: CacheDep,
    word: Annotated[Word, Query(description="A word, lowercase.")],
    k: Annotated[int, Digits, Query(ge=1, le=100)] = 10,
    version: Annotated[
        int | None, Digits, Query(ge=1, le=2**31 - 1, description="A model version.")
    ] = None,
    dim: Annotated[int, Digits, Query(ge=2, le=1024, description="imdb-word2vec's width.")] = 100,
) -> NeighborsOut:
    def work() -> NeighborsOut:
        vectors = _vectors(version, dim, settings, database, cache)
        found = service.neighbors(vectors, word.lower(), k)
        return NeighborsOut(
            source=vectors.source,
            word=word.lower(),
            neighbors=[Neighbor(word=w, similarity=round(s, 4)) for w, s in found],
        )

    return await run_in_threadpool(work)


@router.post(
    "/projection",
    response_model=ProjectionOut,
    summary="2-D coordinates of words (their first two principal components), for plotting",
    responses=error_responses(413),
)
async def post_projection(
    caller: AnyKey,
    settings: SettingsDep,
    database: DatabaseDep,
    cache: CacheDep,
    body: ProjectionIn,
) -> ProjectionOut:
    def work() -> ProjectionOut:
        vectors = _vectors(body.version, body.dim, settings, database, cache)
        points = service.projection(vectors, [word.lower() for word in body.words])
        return ProjectionOut(
            source=vectors.source,
            points=[Point(word=w, x=round(x, 4), y=round(y, 4)) for w, x, y in points],
        )

    return await run_in_threadpool(work)
