"""The library over HTTP: FastAPI routes over the service, and the errors' status codes.

    uvicorn --factory examples.fastapi_service.app:create_app --workers 2

POST routes run commands and answer with what they stored, including `position`, the
global position of the stored event. GET routes answer from the read model; with
`?after=<position>` they first wait (at most `LIBRARY_READ_TIMEOUT` seconds) until the
read model has handled that position, so a client reads its own writes.

| Error | Status | `code` |
| --- | --- | --- |
| the request's body or query does not validate | 422 | `INVALID_REQUEST` |
| an id no store can hold (`InvalidAggregateId`) | 422 | `INVALID_ID` |
| a command on a book never added (`NotFound`), an unknown book read | 404 | `NOT_FOUND` |
| a command refused by a business rule (`CommandError`) | 409 | the error's code |
| a lost race, after the retries (`VersionConflict`) | 409 | `VERSION_CONFLICT` |
| the store cannot be reached (`StoreUnavailable`) | 503 | `STORE_UNAVAILABLE`, `OUTCOME_UNKNOWN` |
| the read model did not catch up in time (`HandlerBehind`) | 503 | `NOT_CAUGHT_UP` |

Every error body is `{"code": ..., "message": ...}`; the 503s say `Retry-After`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from evtsrc import (
    CommandError,
    HandlerBehind,
    InvalidAggregateId,
    Repository,
    StoreUnavailable,
    VersionConflict,
)

from .handlers import BookRow, Catalog
from .library import Book, NotFound
from .service import Service, open_service
from .settings import Settings

log = logging.getLogger(__name__)

READY_WAIT = 0.05
"""Seconds `/health/ready` gives the read model to show it has caught up."""


# Requests and answers.


class NewBook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
    copies: int = Field(ge=1, le=1000)


class MemberRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    member: str = Field(min_length=1, max_length=200)


class Written(BaseModel):
    """What a command stored: read with `?after=<position>` to see it in the read model."""

    id: str
    version: int
    position: int


class BookOut(BaseModel):
    id: str
    title: str
    copies: int
    available: int
    borrowers: list[str]

    @classmethod
    def of(cls, row: BookRow) -> BookOut:
        available = row.copies - len(row.borrowers)
        return cls(
            id=row.id,
            title=row.title,
            copies=row.copies,
            available=available,
            borrowers=list(row.borrowers),
        )


class MemberLoans(BaseModel):
    member: str
    books: list[str]


class Health(BaseModel):
    status: str
    position: int | None = None


class Problem(BaseModel):
    """The body of every error answer."""

    code: str
    message: str


class Refused(Exception):
    """An answer other than 2xx that is not one of evtsrc's errors."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


PROBLEMS: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "Refused by the book's state"},
    404: {"model": Problem, "description": "No such book"},
    422: {"model": Problem, "description": "Invalid input"},
    503: {"model": Problem, "description": "Try again later"},
}


# Dependencies: what routes take from the service the lifespan opened.


class State(TypedDict):
    """The lifespan's state, which Starlette copies into every request's `request.state`."""

    service: Service


def get_service(request: Request) -> Service:
    service = request.state.service
    if not isinstance(service, Service):
        raise TypeError(f"request.state.service is a {type(service).__name__}, not a Service")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]


def get_books(service: ServiceDep) -> Repository[Book]:
    return service.books


BooksDep = Annotated[Repository[Book], Depends(get_books)]


async def get_catalog(
    service: ServiceDep,
    after: Annotated[
        int, Query(ge=0, description="Answer once the read model has handled this position")
    ] = 0,
) -> Catalog:
    """The read model, once it has handled `after` (`HandlerBehind` if not in time)."""
    await service.catalog.wait_for(after, timeout=service.settings.read_timeout)
    return service.catalog.handler


CatalogDep = Annotated[Catalog, Depends(get_catalog)]


# Routes.

router = APIRouter(responses=PROBLEMS)


def written(book: Book) -> Written:
    return Written(id=book.id, version=book.version, position=book.last_position)


@router.post("/books/{book_id}", status_code=201)
async def add_book(book_id: str, new: NewBook, books: BooksDep, response: Response) -> Written:
    book = await books.execute(book_id, Book.add, title=new.title, copies=new.copies)
    response.headers["Location"] = f"/books/{quote(book_id, safe='')}"
    return written(book)


@router.post("/books/{book_id}/loans")
async def lend_book(book_id: str, loan: MemberRequest, books: BooksDep) -> Written:
    return written(await books.execute(book_id, Book.lend, member=loan.member))


@router.post("/books/{book_id}/returns")
async def return_book(book_id: str, loan: MemberRequest, books: BooksDep) -> Written:
    return written(await books.execute(book_id, Book.give_back, member=loan.member))


@router.get("/books/{book_id}")
async def read_book(book_id: str, catalog: CatalogDep) -> BookOut:
    row = catalog.books.get(book_id)
    if row is None:
        raise Refused(404, "NOT_FOUND", "No such book")
    return BookOut.of(row)


@router.get("/books")
async def list_books(catalog: CatalogDep) -> list[BookOut]:
    return [BookOut.of(row) for row in catalog.books.values()]


@router.get("/members/{member}/loans")
async def member_loans(member: str, catalog: CatalogDep) -> MemberLoans:
    return MemberLoans(member=member, books=list(catalog.loans.get(member, [])))


@router.get("/health/live", response_model_exclude_none=True)
async def live() -> Health:
    """The process answers: restart it if this fails."""
    return Health(status="live")


@router.get("/health/ready", response_model_exclude_none=True)
async def ready(service: ServiceDep) -> Health:
    """The store answers and the read model has caught up since start: send traffic here."""
    await service.domain.backend.last_position(service.catalog.streams)
    if not service.catalog.running:
        raise Refused(503, "NOT_RUNNING", "The read model stopped")
    await service.catalog.wait_for(service.started_at, timeout=READY_WAIT)
    return Health(status="ready", position=await service.catalog.position())


# Errors: one place maps them all to status codes.


def problem(error: Exception) -> tuple[int, Problem, dict[str, str]]:
    """The status, body and headers that answer `error`; `error` itself if none does."""
    match error:
        case Refused():
            return error.status, Problem(code=error.code, message=error.message), {}
        case NotFound():
            return 404, Problem(code=error.code, message=error.message), {}
        case VersionConflict():
            message = "The book changed while the request ran; send it again"
            return 409, Problem(code=error.code, message=message), {}
        case CommandError():
            return 409, Problem(code=error.code, message=error.message), {}
        case InvalidAggregateId():
            body = Problem(code="INVALID_ID", message=str(error))
            return 422, body, {}
        case RequestValidationError():
            message = "; ".join(
                f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            body = Problem(code="INVALID_REQUEST", message=message)
            return 422, body, {}
        case StoreUnavailable():
            log.warning("the store is unavailable", exc_info=error)
            if error.outcome_unknown:
                body = Problem(
                    code="OUTCOME_UNKNOWN",
                    message="The store did not answer: the change may or may not have been "
                    "stored; read the book before sending it again",
                )
            else:
                body = Problem(code="STORE_UNAVAILABLE", message="The store cannot be reached")
            return 503, body, {"Retry-After": "5"}
        case HandlerBehind():
            body = Problem(
                code="NOT_CAUGHT_UP",
                message=f"The read model has not reached position {error.position} yet "
                f"(it is at {error.reached})",
            )
            return 503, body, {"Retry-After": "1"}
        case _:
            raise error


async def answer_error(request: Request, error: Exception) -> Response:
    code, body, headers = problem(error)
    return JSONResponse(body.model_dump(), status_code=code, headers=headers)


MAPPED_ERRORS = (
    Refused,
    CommandError,
    InvalidAggregateId,
    StoreUnavailable,
    HandlerBehind,
    RequestValidationError,
)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The service's app: `settings` from the `LIBRARY_*` variables unless given.

    Nothing is opened until the server starts the app's lifespan, so uvicorn can call
    this factory in each worker process (`--factory`).
    """
    chosen = Settings.from_environ() if settings is None else settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncGenerator[State]:
        async with open_service(chosen) as service:
            log.info("library open: the catalogue catches up to position %d", service.started_at)
            yield {"service": service}
        log.info("library closed: handlers stopped, store closed")

    app = FastAPI(title="Library", summary="An evtsrc example service", lifespan=lifespan)
    app.include_router(router)
    for error in MAPPED_ERRORS:
        app.add_exception_handler(error, answer_error)
    return app
