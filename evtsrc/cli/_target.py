"""What a command works on: the store a URL names and, where given, the application's domain."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import attrs
import click

from .._domain import Domain
from .._errors import EvtsrcError
from .._group import HandlerGroup
from .._handlers import EventHandler
from .._runner import HandlerRunner
from ..backends.base import Backend
from ..backends.names import TableNames
from ..backends.urls import connect, redacted

T = TypeVar("T")

Bound = HandlerRunner[EventHandler] | HandlerGroup[EventHandler]


class Failed(click.ClickException):
    """A command that cannot do what was asked: one line on stderr, exit status 1."""


@attrs.frozen
class Target:
    """The command line's choice of store and application."""

    url: str | None
    app: str | None
    prefix: str | None
    timeout: float

    def store_url(self) -> str:
        """The store's URL; `Failed` if none was given."""
        if not self.url:
            raise Failed("no store URL: pass --url URL or set EVTSRC_URL")
        return self.url


@attrs.frozen
class Opened:
    """A store opened for a command, and the application's domain over it (if `--app`)."""

    backend: Backend
    domain: Domain | None

    def need_domain(self, what: str) -> Domain:
        """The domain; `Failed` naming `what` needs it if no `--app` was given."""
        if self.domain is None:
            raise Failed(f"{what} needs the application: pass --app MODULE:FACTORY")
        return self.domain

    def handler(self, name: str) -> Bound:
        """The application's runner or group of handler `name`; `Failed` if it has none."""
        domain = self.need_domain(f"handler {name!r}")
        names = [bound.handler.__handler_name__ for bound in domain.handlers]
        for bound, bound_name in zip(domain.handlers, names, strict=True):
            if bound_name == name:
                return bound
        known = ", ".join(repr(n) for n in names) or "none"
        raise Failed(f"the application has no handler {name!r} (its handlers: {known})")


def load_factory(path: str) -> Callable[[Backend], Domain | Awaitable[Domain]]:
    """The application factory `MODULE:NAME` names: it takes a `Backend`, returns a `Domain`."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise Failed(f"--app {path!r} is not MODULE:FACTORY (such as myapp.store:make_domain)")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the application's modules, from where the command runs
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise Failed(f"--app {path!r}: cannot import {module_name!r}: {error}") from error
    factory = getattr(module, attribute, None)
    if factory is None:
        raise Failed(f"--app {path!r}: module {module_name!r} has no {attribute!r}")
    if isinstance(factory, Domain) or not callable(factory):
        raise Failed(
            f"--app {path!r} is a {type(factory).__name__}: it must be a function that takes "
            "the Backend and returns the application's Domain"
        )
    return factory  # type: ignore[no-any-return]


@asynccontextmanager
async def opened(target: Target) -> AsyncGenerator[Opened]:
    """The store of `target`, and its application's domain; closed as the block ends."""
    url = target.store_url()
    factory = None if target.app is None else load_factory(target.app)
    tables = None if target.prefix is None else TableNames(target.prefix)
    try:
        async with asyncio.timeout(target.timeout):
            backend = await connect(url, tables=tables)
    except (ValueError, TypeError, ImportError) as error:  # a bad URL; a missing extra
        raise Failed(describe(error)) from error
    except TimeoutError as error:
        raise Failed(
            f"cannot reach the store at {redacted(url)} within {target.timeout:g} s"
        ) from error
    except Exception as error:
        raise Failed(f"cannot reach the store at {redacted(url)}: {describe(error)}") from error
    try:
        domain = None
        if factory is not None:
            try:
                made: object = factory(backend)
                if inspect.isawaitable(made):
                    made = await made
            except Exception as error:
                raise Failed(
                    f"--app {target.app!r} failed: {type(error).__name__}: {describe(error)}"
                ) from error
            if not isinstance(made, Domain):
                raise Failed(f"--app {target.app!r} returned a {type(made).__name__}, not a Domain")
            domain = made
        yield Opened(backend, domain)
    finally:
        await backend.close()


def describe(error: BaseException) -> str:
    """An error as one line: its message, or its type where it has none."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def run(
    target: Target, work: Callable[[Opened], Coroutine[Any, Any, T]], *, bounded: bool = True
) -> T:
    """Open `target`'s store, run `work` on it, close it: one line and exit 1 on failure.

    `work` must end within `target.timeout` seconds unless not `bounded` (a command
    that follows the store until stopped, or reports its own progress).
    """

    async def main() -> T:
        async with opened(target) as store:
            return await (work(store) if not bounded else within(target, work(store)))

    try:
        return asyncio.run(main())
    except click.ClickException:
        raise
    except KeyboardInterrupt:
        raise click.Abort() from None
    except EvtsrcError as error:  # unavailable, busy, a handler that failed: says it all
        raise Failed(describe(error)) from error
    except (OSError, TimeoutError) as error:
        url = redacted(target.url or "")
        raise Failed(f"lost the store at {url}: {describe(error)}") from error
    except Exception as error:  # a driver's own error: still one line, never a traceback
        url = redacted(target.url or "")
        raise Failed(
            f"the store at {url} failed: {type(error).__name__}: {describe(error)}"
        ) from error


async def within(target: Target, step: Awaitable[T]) -> T:
    """`step`'s result; `Failed` if the store takes more than `target.timeout` seconds."""
    try:
        async with asyncio.timeout(target.timeout):
            return await step
    except TimeoutError as error:
        raise Failed(
            f"the store at {redacted(target.store_url())} did not answer within "
            f"{target.timeout:g} s (--timeout)"
        ) from error
