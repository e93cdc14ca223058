"""Given: the request and response bodies of the lab 11 service, with their limits (documented in /docs)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_TEXT_CHARS = 2000  # one text; longer is a 422
MAX_BATCH = 64  # texts per /embed request, documents per /documents request
MAX_TOP_K = 50

# At least one character that is not white space, at most MAX_TEXT_CHARS.
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedIn(Strict):
    """One ``text``, or a batch of ``texts`` (1 to 64): exactly one of the two."""

    text: Text | None = None
    texts: Annotated[list[Text], Field(min_length=1, max_length=MAX_BATCH)] | None = None

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"texts": ["rocket launch", "car"]}]})

    @model_validator(mode="after")
    def exactly_one(self) -> EmbedIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send either 'text' (one string) or 'texts' (a list of strings), not both or neither")
        return self

    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class EmbedOut(BaseModel):
    model: str
    version: str
    dim: int
    vectors: list[list[float]] = Field(description="one L2-normalised vector per text, in order")


class ClassifyIn(Strict):
    text: Text


class ClassifyOut(BaseModel):
    category: str
    probabilities: dict[str, float]


class SearchIn(Strict):
    query: Text
    top_k: int = Field(10, ge=1, le=MAX_TOP_K, strict=True, description="how many results, 1 to 50")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"query": "rocket orbit", "top_k": 5}]})


class Hit(BaseModel):
    id: str
    category: str | None
    score: float = Field(description="cosine similarity with the query")
    snippet: str


class SearchOut(BaseModel):
    index: str
    results: list[Hit] = Field(description="best first")


class DocumentIn(Strict):
    text: Text
    category: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None


class DocumentsIn(Strict):
    documents: Annotated[list[DocumentIn], Field(min_length=1, max_length=MAX_BATCH)]


class JobOut(BaseModel):
    job_id: str
    status: str = Field(description="pending, running, done or failed")
    ids: list[str] = Field(description="the ids given to the documents, in order")
    error: str | None = None


class ErrorMessage(BaseModel):
    detail: str
