"""evtsrc's pytest plugin, run as its users run it: on small test files, under pytester.

Most runs are in-process, with the plugin named by ``-p`` (its entry point's name is
the module's, so this also works where an installed evtsrc has loaded it already).
Two run in a subprocess: one without pytest-asyncio, one that finds the plugin through
the ``pytest11`` entry point of the installed package alone.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sqlite3
import tomllib
from pathlib import Path

# Modules a test run in this process imports are removed from sys.modules after it. One
# that imports a backend's driver first would leave the rest of the session a second copy
# of it: SQLAlchemy's classes unknown to the first copy's objects, a C extension (asyncpg,
# asyncmy) initialised twice, which crashes. So every backend is imported before any run.
import asyncmy  # noqa: F401
import pytest

import evtsrc.backends.mongo
import evtsrc.backends.neo4j
import evtsrc.backends.postgres
import evtsrc.backends.sqlalchemy  # noqa: F401
from evtsrc import Domain
from evtsrc.testing import pytest_plugin

from .backends import MARIADB_ENV, MONGO_ENV, NEO4J_ENV, POSTGRES_ENV, in_ci, server_location

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "evtsrc.testing.pytest_plugin"

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

MODEL = '''
import pytest

from evtsrc import Aggregate, Event, EventHandler, EventMeta, command, folds, on_event


class Added(Event, type_name="plugin.added"):
    amount: int


class Counter(Aggregate, stream="plugin-counters"):
    total: int = 0

    @folds
    def _added(self, event: Added) -> None:
        self.total += event.amount

    @command
    def add(self, amount: int) -> Added:
        return Added(amount=amount)


class Totals(EventHandler, name="plugin-totals"):
    """Sums each counter; refuses negative amounts, to test failing handlers."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}

    @on_event
    def added(self, event: Added, meta: EventMeta) -> None:
        if event.amount < 0:
            raise ValueError(f"negative amount {event.amount}")
        self.totals[meta.aggregate_id] = self.totals.get(meta.aggregate_id, 0) + event.amount
'''

AGGREGATES = """

@pytest.fixture
def evtsrc_aggregates() -> list[type[Aggregate]]:
    return [Counter]
"""


def _project(pytester: pytest.Pytester, mode: str = "auto", *, aggregates: bool = True) -> None:
    """An ini file, and the model in a conftest.py (overriding evtsrc_aggregates unless not)."""
    pytester.makeini(INI.format(mode=mode))
    pytester.makeconftest(MODEL + (AGGREGATES if aggregates else ""))


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", PLUGIN, *args)


def test_the_fixtures_give_a_fresh_store_a_domain_and_running_handlers(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        from evtsrc import Domain, HandlerRunner
        from evtsrc.backends import Backend, InMemoryBackend
        from evtsrc.testing import pytest_plugin

        from conftest import Added, Counter, Totals


        async def test_the_store_is_a_new_in_memory_backend(evtsrc_store, evtsrc_store_url):
            assert evtsrc_store_url == "memory://"
            assert isinstance(evtsrc_store, InMemoryBackend)
            assert await evtsrc_store.last_position(["plugin-counters"]) == 0


        async def test_the_domain_is_over_the_store(evtsrc_domain, evtsrc_store):
            assert isinstance(evtsrc_domain, Domain)
            assert evtsrc_domain.backend is evtsrc_store
            assert evtsrc_domain.aggregates == (Counter,)


        async def test_each_test_starts_empty(evtsrc_domain):
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=1)
            assert counter.version == 1


        async def test_and_empty_again(evtsrc_domain):
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=1)
            assert counter.version == 1


        async def test_a_started_handler_catches_up(evtsrc_domain, evtsrc_runners):
            runner = await evtsrc_runners.start(Totals())
            assert isinstance(runner, HandlerRunner) and runner.running
            counters = evtsrc_domain.repository(Counter)
            await counters.execute("a", Counter.add, amount=2)
            await counters.execute("b", Counter.add, amount=5)
            await counters.execute("a", Counter.add, amount=3)
            await evtsrc_runners.caught_up()
            assert runner.handler.totals == {"a": 5, "b": 5}
            assert evtsrc_runners.started == (runner,)


        async def test_read_your_writes_with_wait_for(evtsrc_domain, evtsrc_runners):
            runner = await evtsrc_runners.start(Totals(), poll_interval=0.5)
            counter = await evtsrc_domain.repository(Counter).execute("a", Counter.add, amount=4)
            await runner.wait_for(counter.last_position, timeout=5)
            assert runner.handler.totals == {"a": 4}


        async def test_given_when_then(evtsrc_given):
            outcome = await evtsrc_given(Counter, Added(amount=1)).when(Counter.add, amount=2)
            outcome.expect(Added(amount=2))
            assert outcome.aggregate.total == 3


        def test_the_types(evtsrc_given, evtsrc_domain_factory):
            assert isinstance(evtsrc_given, pytest_plugin.Given)
            assert evtsrc_given.domain_factory is evtsrc_domain_factory
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=8)


def test_a_wrong_expectation_fails_the_users_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        from conftest import Added, Counter


        async def test_wrong(evtsrc_given):
            outcome = await evtsrc_given(Counter).when(Counter.add, amount=2)
            outcome.expect(Added(amount=3))


        async def test_right(evtsrc_given):
            outcome = await evtsrc_given(Counter).when(Counter.add, amount=2)
            outcome.expect(Added(amount=2))


        async def test_wrong_state(evtsrc_domain):
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=2)
            assert counter.total == 3
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*Counter.add on plugin-counters/test-1 stored other events than expected",
            "*first difference at #1: expected Added(amount=3), got Added(amount=2)",
        ]
    )


def test_a_failing_handler_fails_the_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import asyncio

        import pytest

        from evtsrc import HandlerBehind, HandlerError, on_event
        from conftest import Added, Counter, Totals


        async def test_caught_up_raises_the_failure(evtsrc_domain, evtsrc_runners):
            await evtsrc_runners.start(Totals())
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=-1)
            await evtsrc_runners.caught_up()


        async def test_teardown_reports_a_failure_nobody_waited_for(
            evtsrc_domain, evtsrc_runners
        ):
            runner = await evtsrc_runners.start(Totals())
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=-2)
            while runner.last_error is None:
                await asyncio.sleep(0.01)


        async def test_failures_can_be_allowed(evtsrc_domain, evtsrc_runners):
            runner = await evtsrc_runners.start(Totals(), allow_errors=True)
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=-3)
            with pytest.raises(HandlerBehind):
                await evtsrc_runners.caught_up(timeout=0.2)
            assert isinstance(runner.last_error, HandlerError)


        class Slow(Totals, name="plugin-slow"):
            @on_event
            async def added(self, event: Added) -> None:
                await asyncio.sleep(0.3)


        async def test_a_slow_handler_is_behind(evtsrc_domain, evtsrc_runners):
            await evtsrc_runners.start(Slow())
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=1)
            with pytest.raises(HandlerBehind):
                await evtsrc_runners.caught_up(timeout=0.05)
            await evtsrc_runners.caught_up()
        """
    )
    result = _run(pytester)
    # The test nobody waited in passes, and its teardown errs.
    result.assert_outcomes(passed=3, failed=1, errors=1)
    for line in (
        "E * AssertionError: handler 'plugin-totals' failed in the background: handler "
        "'plugin-totals' failed on plugin.added at position 1: ValueError('negative amount -1')",
        "E * AssertionError: handlers failed in the background during the test:",
        "E *'plugin-totals': HandlerError(*negative amount -2*",
        "FAILED *::test_caught_up_raises_the_failure*",
        "ERROR *::test_teardown_reports_a_failure_nobody_waited_for*",
    ):
        result.stdout.fnmatch_lines([line])


def test_teardown_stops_the_runners_and_closes_the_domain(pytester: pytest.Pytester) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        from conftest import Counter, Totals

        SEEN = []


        async def test_start(evtsrc_domain, evtsrc_runners):
            SEEN.append(await evtsrc_runners.start(Totals()))
            SEEN.append(evtsrc_domain.handler(Totals(), bookmarks=None))
            await SEEN[-1].start()  # a runner of the domain's own: the domain stops it


        def test_after():
            assert [runner.running for runner in SEEN] == [False, False]
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_strict_mode_needs_only_the_tests_marked(pytester: pytest.Pytester) -> None:
    _project(pytester, mode="strict")
    pytester.makepyfile(
        """
        import pytest

        from conftest import Counter, Totals


        @pytest.mark.asyncio
        async def test_handler(evtsrc_domain, evtsrc_runners):
            runner = await evtsrc_runners.start(Totals())
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=2)
            await evtsrc_runners.caught_up()
            assert runner.handler.totals == {"c": 2}


        def test_a_sync_test_may_use_the_sync_fixtures(evtsrc_store_url, evtsrc_given):
            assert evtsrc_store_url == "memory://"
        """
    )
    _run(pytester).assert_outcomes(passed=2)


SCHEMA = "select name from sqlite_master where name not like 'sqlite%'"
"""The tables and indexes of a SQLite file, without SQLite's own."""

SQLITE_TEST = """
import sqlite3

from evtsrc.backends import SqliteBackend

from conftest import Counter, Totals

SCHEMA = {schema!r}


async def test_on_sqlite(evtsrc_store, evtsrc_domain, evtsrc_runners, tmp_path_factory):
    assert isinstance(evtsrc_store, SqliteBackend)
    runner = await evtsrc_runners.start(Totals())
    await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=2)
    await evtsrc_runners.caught_up()
    assert runner.handler.totals == {{"c": 2}}
    prefix = evtsrc_store.names.prefix
    with sqlite3.connect(evtsrc_store.path) as db:
        tables = {{name for (name,) in db.execute(SCHEMA)}}
    assert prefix + "events" in tables
    {check}
"""


def _sqlite_test(check: str) -> str:
    """A test on SQLite that ends with `check`, which may read `tables` and `prefix`."""
    return SQLITE_TEST.format(schema=SCHEMA, check=check)


def test_sqlite_with_no_path_is_a_new_file_per_test(pytester: pytest.Pytester) -> None:
    _project(pytester)
    check = "assert evtsrc_store.path.is_relative_to(tmp_path_factory.getbasetemp())"
    pytester.makepyfile(_sqlite_test(check=check))
    pytester.makepyfile(test_two=_sqlite_test(check="assert len(tables) >= 6"))
    basetemp = pytester.path / "run-tmp"  # the run's own: other tests leave files elsewhere
    result = _run(pytester, "--evtsrc-store=sqlite:///", "-v", f"--basetemp={basetemp}")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["evtsrc: store sqlite:/// (from --evtsrc-store)"])
    files = sorted(basetemp.rglob("events.sqlite"))
    assert len(files) == 2


def test_a_named_sqlite_file_is_shared_under_a_prefix_per_test_and_left_empty(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    _project(pytester)
    store = tmp_path / "shared store.db"  # a space: the URL quotes it
    check = f"assert evtsrc_store.path == __import__('pathlib').Path({str(store)!r})"
    pytester.makepyfile(_sqlite_test(check=check))
    # The first test's tables are gone by the time the second runs.
    alone = "assert all(name.startswith(prefix) for name in tables), tables"
    pytester.makepyfile(test_two=_sqlite_test(check=alone))
    result = _run(pytester, f"--evtsrc-store=sqlite:///{store}")
    result.assert_outcomes(passed=2)
    with sqlite3.connect(store) as db:
        assert list(db.execute(SCHEMA)) == []


def test_the_store_comes_from_the_option_else_the_environment_else_the_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester)
    pytester.makeini(INI.format(mode="auto") + "evtsrc_store = sqlite+aiosqlite:///\n")
    pytester.makepyfile(
        """
        def test_store(evtsrc_store, evtsrc_store_url):
            print("URL", evtsrc_store_url, type(evtsrc_store).__name__)
        """
    )
    monkeypatch.delenv(pytest_plugin.ENVIRONMENT, raising=False)
    _run(pytester, "-s").stdout.fnmatch_lines(["*URL sqlite+aiosqlite:/// SqlAlchemyBackend*"])
    monkeypatch.setenv(pytest_plugin.ENVIRONMENT, "sqlite:///")
    _run(pytester, "-s").stdout.fnmatch_lines(["*URL sqlite:/// SqliteBackend*"])
    _run(pytester, "-s", "--evtsrc-store=memory://").stdout.fnmatch_lines(
        ["*URL memory:// InMemoryBackend*"]
    )


def test_a_store_url_can_be_chosen_per_test_by_overriding_the_fixture(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import pytest

        from conftest import Counter


        @pytest.mark.parametrize("evtsrc_store_url", ["memory://", "sqlite:///"])
        async def test_on_both(evtsrc_domain, evtsrc_store_url):
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=2)
            assert counter.total == 2
        """
    )
    _run(pytester).assert_outcomes(passed=2)


def test_an_unknown_scheme_is_a_usage_error_naming_where_it_came_from(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project(pytester, aggregates=False)
    pytester.makepyfile("def test_nothing(): pass")
    monkeypatch.setenv(pytest_plugin.ENVIRONMENT, "postgresq://user:secret@host/db")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: $EVTSRC_TEST_STORE names the store 'postgresq://user:***@host/db', whose *"]
    )


def test_a_configured_server_is_named_in_the_header_without_its_password_and_not_opened(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester, aggregates=False)
    pytester.makepyfile("def test_nothing(): pass")
    result = _run(pytester, "--evtsrc-store=postgresql://user:secret@localhost:1/db")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["evtsrc: store postgresql://user:***@localhost:1/db (from --evtsrc-store)"]
    )
    assert "secret" not in result.stdout.str()


def test_the_domain_needs_its_aggregates(pytester: pytest.Pytester) -> None:
    _project(pytester, aggregates=False)
    pytester.makepyfile(
        """
        from conftest import Added, Counter


        async def test_domain(evtsrc_domain):
            pass


        async def test_given_needs_nothing(evtsrc_given):
            (await evtsrc_given(Counter).when(Counter.add, amount=1)).expect(Added(amount=1))
        """
    )
    result = _run(pytester)
    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        ["*evtsrc_domain needs your aggregates: override the fixture evtsrc_aggregates*"]
    )


def test_a_domain_factory_builds_the_domain_as_the_application_does(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        import pytest

        from evtsrc import Domain
        from evtsrc.backends import InMemoryBackend

        from conftest import Added, Counter


        def make_domain(backend):
            return Domain(backend, aggregates=[Counter], cache_size=0)


        @pytest.fixture
        def evtsrc_domain_factory():
            return make_domain


        async def test_domain(evtsrc_domain, evtsrc_given):
            assert evtsrc_given.domain_factory is make_domain
            outcome = await evtsrc_given(Counter).when(Counter.add, amount=1)
            outcome.expect(Added(amount=1))


        class TestAWrongFactory:
            @pytest.fixture
            def evtsrc_domain_factory(self):
                return lambda backend: Domain(InMemoryBackend(), aggregates=[Counter])

            async def test_domain(self, evtsrc_domain):
                pass
        """
    )
    result = _run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*evtsrc_domain_factory built its domain over another backend*"])


def test_start_takes_every_option_of_domain_handler() -> None:
    handler_options = {
        name
        for name, parameter in inspect.signature(Domain.handler).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    assert set(pytest_plugin.HandlerOptions.__annotations__) == handler_options


def _subprocess_env(monkeypatch: pytest.MonkeyPatch, *paths: Path) -> None:
    pythonpath = [str(path) for path in paths]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*pythonpath, str(ROOT)]))


def test_without_pytest_asyncio_the_plugin_loads_and_its_async_fixtures_say_what_is_missing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a project that installed evtsrc without its testing extra; no backend loads."""
    blocker = pytester.mkdir("blocker")
    (blocker / "pytest_asyncio.py").write_text("raise ImportError('not installed here')\n")
    _subprocess_env(monkeypatch, blocker)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(
        """
        import sys

        OPTIONAL = {"pytest_asyncio", "sqlalchemy", "aiosqlite", "asyncpg", "asyncmy",
                    "pymongo", "neo4j", "hypothesis", "aiokafka", "nats", "aio_pika"}


        def test_a_test_of_a_project_that_does_not_use_evtsrc(request):
            assert request.config.pluginmanager.hasplugin("evtsrc.testing.pytest_plugin")
            assert not OPTIONAL & {name.split(".")[0] for name in sys.modules}


        def test_an_async_fixture(evtsrc_store):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", PLUGIN)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*the fixture evtsrc_store is async and needs pytest-asyncio: pip install*"]
    )


def test_pyproject_registers_the_plugin_under_its_module_name() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pytest11"] == {PLUGIN: PLUGIN}


def test_a_conftest_may_name_the_plugin_whether_or_not_the_entry_point_loaded_it(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester)
    pytester.makepyfile(
        """
        async def test_store(evtsrc_store):
            pass
        """
    )
    (pytester.path / "conftest.py").write_text(
        f"pytest_plugins = [{PLUGIN!r}]\n" + (pytester.path / "conftest.py").read_text()
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_installed_package_loads_the_plugin_through_its_entry_point(
    pytester: pytest.Pytester,
) -> None:
    """No ``-p`` and no conftest: the entry point alone (needs evtsrc installed)."""
    found = [ep for ep in importlib.metadata.entry_points(group="pytest11") if ep.name == PLUGIN]
    if not found:
        message = (
            "the evtsrc installed here has no pytest11 entry point: reinstall it "
            "(pip install -e .) to test it"
        )
        if in_ci():
            pytest.fail(f"CI=true and {message}")
        pytest.skip(message)
    assert [ep.value for ep in found] == [PLUGIN]
    _project(pytester)
    pytester.makepyfile(
        """
        from conftest import Counter


        async def test_fixtures(request, evtsrc_domain):
            assert request.config.pluginmanager.hasplugin("evtsrc.testing.pytest_plugin")
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=1)
            assert counter.total == 1
        """
    )
    result = pytester.runpytest_subprocess("--trace-config")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*{PLUGIN}*"])


SERVERS = {
    "postgresql": POSTGRES_ENV,
    "mariadb": MARIADB_ENV,
    "mongodb": MONGO_ENV,
    "neo4j": NEO4J_ENV,
}


@pytest.mark.parametrize("variable", SERVERS.values(), ids=list(SERVERS))
def test_the_fixtures_on_each_server(pytester: pytest.Pytester, variable: str) -> None:
    url = server_location(variable, "the pytest plugin")
    _project(pytester)
    pytester.makepyfile(
        """
        from evtsrc.backends import TableNames

        from conftest import Counter, Totals


        async def test_one(evtsrc_store, evtsrc_domain, evtsrc_runners):
            assert evtsrc_store.names != TableNames()
            runner = await evtsrc_runners.start(Totals())
            await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=2)
            await evtsrc_runners.caught_up(timeout=30)
            assert runner.handler.totals == {"c": 2}


        async def test_two(evtsrc_domain):
            counter = await evtsrc_domain.repository(Counter).execute("c", Counter.add, amount=1)
            assert counter.version == 1
        """
    )
    _run(pytester, f"--evtsrc-store={url}").assert_outcomes(passed=2)
