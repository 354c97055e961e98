"""evtsrc's pytest plugin: a fresh store per test, a domain over it, running handlers.

Installing evtsrc registers this module with pytest through the `pytest11` entry
point `evtsrc.testing.pytest_plugin`, so its fixtures need no import in a conftest:

- `evtsrc_store_url`: the URL of the store tests run on: `--evtsrc-store=URL`, else
  the environment variable `EVTSRC_TEST_STORE`, else the ini option `evtsrc_store`,
  else `memory://`.
- `evtsrc_store`: a fresh `Backend` for the test, opened with `evtsrc.connect()` under
  table names of its own, its schema created before the test and dropped after it.
- `evtsrc_aggregates`, `evtsrc_domain_factory`: what the domain is made of; override
  one of them in a conftest.py or test module.
- `evtsrc_domain`: a `Domain` over `evtsrc_store`, closed after the test.
- `evtsrc_runners`: `Runners`, which starts handlers on that domain, waits until they
  have caught up and stops them after the test, failing it if a handler failed.
- `evtsrc_given`: `given()` of `evtsrc.testing`, building its domains with
  `evtsrc_domain_factory`.

The async fixtures need pytest-asyncio (`pip install 'evtsrc[testing]'`); they are
declared with `pytest_asyncio.fixture`, so they work in its strict mode and in auto
mode alike, in the event loop of `asyncio_default_fixture_loop_scope`.

PYTEST_DONT_REWRITE: pytest leaves this module's `assert`s alone (it has none to
rewrite), so naming it with `-p` once it is imported does not warn.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypedDict, TypeVar, Unpack
from urllib.parse import quote, urlsplit

import attrs
import pytest

from evtsrc import (
    Aggregate,
    Domain,
    Event,
    EventHandler,
    HandlerBehind,
    HandlerRunner,
    RetryPolicy,
    connect,
)
from evtsrc.backends import Backend, BookmarkStore, TableNames
from evtsrc.backends.urls import SCHEMES, redacted

from .scenario import DEFAULT_ID, DomainFactory, Scenario, given

__all__ = [
    "DEFAULT_STORE",
    "OPTION",
    "INI",
    "ENVIRONMENT",
    "Given",
    "HandlerOptions",
    "Runners",
    "store_url",
]

A = TypeVar("A", bound=Aggregate)
H = TypeVar("H", bound=EventHandler)

DEFAULT_STORE = "memory://"
"""The store tests run on unless one is configured: a new `InMemoryBackend` per test."""
OPTION = "--evtsrc-store"
"""The command-line option naming the store tests run on (a URL `evtsrc.connect` takes)."""
ENVIRONMENT = "EVTSRC_TEST_STORE"
"""The environment variable naming that store when the command line does not."""
INI = "evtsrc_store"
"""The ini option (pytest.ini, pyproject.toml, ...) naming it when neither does."""

_SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite")
_WAIT_SLICE = 0.05
"""How often `Runners.caught_up` looks at a waited-for handler's failures, in seconds."""


# -- configuration ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--evtsrc-store=URL` and the ini option `evtsrc_store`."""
    group = parser.getgroup("evtsrc", "evtsrc event store")
    group.addoption(
        OPTION,
        metavar="URL",
        default=None,
        help=(
            "the store the evtsrc_store fixture opens for each test, as a URL evtsrc.connect "
            f"takes (default: ${ENVIRONMENT}, then the ini option {INI}, then {DEFAULT_STORE}); "
            "sqlite:/// alone is a new file per test"
        ),
    )
    parser.addini(
        INI,
        help=f"the store of the evtsrc_store fixture, as a URL (default: {DEFAULT_STORE})",
        default="",
    )


def store_url(config: pytest.Config) -> tuple[str, str]:
    """The configured store's URL and where it came from (`--evtsrc-store`, ...)."""
    option: object = config.getoption(OPTION)
    if isinstance(option, str) and option:
        return option, OPTION
    environment = os.environ.get(ENVIRONMENT, "")
    if environment:
        return environment, f"${ENVIRONMENT}"
    ini: object = config.getini(INI)
    if isinstance(ini, str) and ini.strip():
        return ini.strip(), f"the ini option {INI}"
    return DEFAULT_STORE, "the default"


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a configured store URL of no scheme `evtsrc.connect` knows, before any test."""
    url, source = store_url(config)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise pytest.UsageError(
            f"{source} names the store {redacted(url)!r}, whose scheme evtsrc does not know; "
            f"known: {known}"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which store the tests run on when one is configured."""
    url, source = store_url(config)
    if url == DEFAULT_STORE and source == "the default":
        return []
    return [f"evtsrc: store {redacted(url)} (from {source})"]


# -- the async fixtures, through pytest-asyncio -----------------------------------------------


def _async_fixture(function: Callable[..., Any]) -> object:
    """`function` as a pytest-asyncio fixture; without pytest-asyncio, one that says so."""
    try:
        from pytest_asyncio import fixture
    except ImportError:  # evtsrc installed without its testing extra: say what is missing
        name = function.__name__

        def missing() -> None:
            pytest.fail(
                f"the fixture {name} is async and needs pytest-asyncio: "
                "pip install 'evtsrc[testing]'",
                pytrace=False,
            )

        return pytest.fixture(name=name)(missing)
    return fixture(function)


@pytest.fixture
def evtsrc_store_url(pytestconfig: pytest.Config) -> str:
    """The URL of the store `evtsrc_store` opens; override it to choose per test or module.

    `--evtsrc-store=URL`, else `$EVTSRC_TEST_STORE`, else the ini option
    `evtsrc_store`, else `memory://`.
    """
    return store_url(pytestconfig)[0]


@_async_fixture
async def evtsrc_store(
    evtsrc_store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    """A fresh store for one test: `evtsrc.connect(evtsrc_store_url)`, empty.

    Its tables (collections, labels) have a prefix no other test uses, so tests can
    share a database server, one after the other or in parallel; they are created
    before the test and dropped after it, and the backend is closed. `sqlite:///`
    with no path (or `sqlite:///:memory:`) is a new file in a temporary folder.
    """
    url = _url_for_one_test(evtsrc_store_url, tmp_path_factory)
    tables = TableNames(prefix=f"evtsrc_{uuid.uuid4().hex[:12]}_")
    backend = await connect(url, tables=tables)
    try:
        await backend.create_schema()
    except BaseException:
        await backend.close()
        raise
    try:
        yield backend
    finally:
        try:
            await backend.close()  # closing again does nothing: the domain closes it first
        finally:
            if urlsplit(url).scheme.lower() != "memory":
                # A connection of its own: the test may have closed the backend it got.
                async with await connect(url, tables=tables) as dropping:
                    await dropping.drop_schema()


def _url_for_one_test(url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """`url`, with a SQLite URL that names no file made a new file's."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in _SQLITE_SCHEMES and not parts.netloc and parts.path in ("", "/", "/:memory:"):
        path = tmp_path_factory.mktemp("evtsrc-store") / "events.sqlite"
        return f"{parts.scheme}:///{quote(str(path))}"
    return url


@pytest.fixture
def evtsrc_aggregates() -> Sequence[type[Aggregate]]:
    """The aggregate classes of `evtsrc_domain`: override this fixture to name yours.

    ```python
    @pytest.fixture
    def evtsrc_aggregates() -> list[type[Aggregate]]:
        return [User, Post]
    ```
    """
    return ()


@pytest.fixture
def evtsrc_domain_factory(evtsrc_aggregates: Sequence[type[Aggregate]]) -> DomainFactory:
    """Builds the test's domain over a backend: by default from `evtsrc_aggregates`.

    Override it to build the domain as your application does (a converter, a cache
    size, a retry policy), by returning your own `make_domain(backend)`.
    """
    return _AggregatesDomain(tuple(evtsrc_aggregates))


@attrs.frozen
class _AggregatesDomain:
    """The default domain factory: `Domain(backend, aggregates=aggregates)`."""

    aggregates: tuple[type[Aggregate], ...]

    def __call__(self, backend: Backend) -> Domain:
        if not self.aggregates:
            pytest.fail(
                "evtsrc_domain needs your aggregates: override the fixture evtsrc_aggregates "
                "(return [User, Post]) or evtsrc_domain_factory (return your make_domain), "
                "in a conftest.py or in the test module",
                pytrace=False,
            )
        return Domain(backend, aggregates=self.aggregates)


@_async_fixture
async def evtsrc_domain(
    evtsrc_store: Backend, evtsrc_domain_factory: DomainFactory
) -> AsyncIterator[Domain]:
    """The test's domain, over `evtsrc_store`; closed after the test.

    Closing it stops every runner and group bound to it that still runs.
    """
    domain = evtsrc_domain_factory(evtsrc_store)
    if not isinstance(domain, Domain):
        raise TypeError(f"evtsrc_domain_factory returned {domain!r}, not a Domain")
    if domain.backend is not evtsrc_store:
        await domain.close()
        raise ValueError(
            "evtsrc_domain_factory built its domain over another backend: build it over the "
            "backend it is given"
        )
    try:
        yield domain
    finally:
        await domain.close()


@_async_fixture
async def evtsrc_runners(evtsrc_domain: Domain) -> AsyncIterator[Runners]:
    """`Runners` on `evtsrc_domain`: handlers started in the test are stopped after it.

    A handler that failed in the background fails the test: at `caught_up()`, or
    else as the test ends (an error at teardown).
    """
    runners = Runners(evtsrc_domain)
    try:
        yield runners
    finally:
        await runners.stop_all()


@pytest.fixture
def evtsrc_given(evtsrc_domain_factory: DomainFactory) -> Given:
    """`evtsrc.testing.given`, whose scenarios build their domains with `evtsrc_domain_factory`.

    Each `when()` still runs on a fresh in-memory store, whatever `evtsrc_store` is.
    Without an override of `evtsrc_aggregates` or `evtsrc_domain_factory`, a
    scenario's domain holds the aggregates it names, as with `given()` itself.
    """
    if (
        isinstance(evtsrc_domain_factory, _AggregatesDomain)
        and not evtsrc_domain_factory.aggregates
    ):
        return Given(None)
    return Given(evtsrc_domain_factory)


# -- what the fixtures give ------------------------------------------------------------------


class Given:
    """`given()` with a domain factory bound: what the `evtsrc_given` fixture gives."""

    def __init__(self, domain_factory: DomainFactory | None) -> None:
        self.domain_factory = domain_factory
        """What builds each scenario's domain; None for `given()`'s own default."""

    def __call__(
        self, aggregate: type[A], *events: Event, aggregate_id: str = DEFAULT_ID
    ) -> Scenario[A]:
        """`given(aggregate, *events, aggregate_id=aggregate_id, domain=domain_factory)`."""
        return given(aggregate, *events, aggregate_id=aggregate_id, domain=self.domain_factory)


class HandlerOptions(TypedDict, total=False):
    """The options of `Domain.handler()` that `Runners.start()` passes on."""

    bookmarks: BookmarkStore | None
    tail_stream: bool
    always_tail_stream: bool
    continue_on_error: bool
    batch_size: int
    poll_interval: float
    standby_interval: float
    retry: RetryPolicy | None
    park: bool
    versioned: bool


@attrs.define
class _Started:
    runner: HandlerRunner[Any]
    allow_errors: bool
    reported: BaseException | None = None
    """The failure already raised to the test, not to be raised again at teardown."""


class Runners:
    """Handlers started on a domain for one test: what the `evtsrc_runners` fixture gives.

    `start()` binds a handler to the domain and starts its runner; `caught_up()`
    waits until the runners have handled what the test stored; `stop_all()`, which
    the fixture calls after the test, stops them. A handler whose run failed in the
    background fails the test, unless it was started with `allow_errors=True`.
    """

    def __init__(self, domain: Domain) -> None:
        self.domain = domain
        """The domain the handlers are bound to."""
        self._started: list[_Started] = []

    @property
    def started(self) -> tuple[HandlerRunner[Any], ...]:
        """The runners `start()` started that `stop_all()` has not stopped yet, in order."""
        return tuple(started.runner for started in self._started)

    async def start(
        self, handler: H, /, *, allow_errors: bool = False, **options: Unpack[HandlerOptions]
    ) -> HandlerRunner[H]:
        """Bind `handler` with `Domain.handler(handler, **options)` and start its runner.

        The runner is stopped after the test. `allow_errors=True` lets its handler
        fail without failing the test (to test retries, `on_error`, parking).
        """
        runner = self.domain.handler(handler, **options)
        await runner.start()
        self._started.append(_Started(runner, allow_errors))
        return runner

    async def caught_up(self, *runners: HandlerRunner[Any], timeout: float = 5.0) -> None:
        """Wait until the runners have handled every event stored so far in their streams.

        `runners` are every runner `start()` started unless given: read-your-writes
        for what the test stored, whatever the handlers. Raises `AssertionError` as
        soon as one of them fails (its error as the cause), `HandlerBehind` when they
        have not caught up after `timeout` seconds.
        """
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for runner in runners or self.started:
            position = await self.domain.backend.last_position(runner.streams)
            while True:
                await self._check(runner)
                left = deadline - loop.time()
                if left <= 0:
                    raise HandlerBehind(runner.name, position, await runner.position(), timeout)
                try:
                    await runner.wait_for(position, timeout=min(left, _WAIT_SLICE))
                except HandlerBehind:
                    continue
                await self._check(runner)
                break

    async def stop_all(self) -> None:
        """Stop every runner `start()` started, the last first (the fixture does this).

        Raises `AssertionError` for any handler that failed and was not reported yet.
        """
        failures: list[tuple[HandlerRunner[Any], BaseException]] = []
        while self._started:
            started = self._started.pop()
            try:
                await started.runner.stop()
            except Exception as error:
                failures.append((started.runner, error))
                continue
            failed = started.runner.last_error
            if failed is not None and not started.allow_errors and failed is not started.reported:
                failures.append((started.runner, failed))
        if failures:
            lines = "\n".join(f"  {runner.name!r}: {error!r}" for runner, error in failures)
            raise AssertionError(
                f"handlers failed in the background during the test:\n{lines}\n"
                "(start one with allow_errors=True if its failures are expected)"
            ) from failures[0][1]

    def _find(self, runner: HandlerRunner[Any]) -> _Started | None:
        return next((s for s in self._started if s.runner is runner), None)

    async def _check(self, runner: HandlerRunner[Any]) -> None:
        """Raise if `runner`'s handler failed, or its loop ended with an error."""
        started = self._find(runner)
        if not runner.running:
            try:
                await runner.stop()  # raises what ended the loop, if anything did
            except Exception as error:
                if started is not None:
                    started.reported = error
                raise AssertionError(
                    f"the runner of handler {runner.name!r} stopped on {error!r}"
                ) from error
        if started is not None and started.allow_errors:
            return
        failed = runner.last_error
        if failed is not None:
            if started is not None:
                started.reported = failed
            raise AssertionError(
                f"handler {runner.name!r} failed in the background: {failed}\n"
                "(start it with allow_errors=True if that is expected)"
            ) from failed
