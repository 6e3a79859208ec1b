"""Secrets in what the config names: a PostgreSQL state is judged as libpq reads it (a
password however spelled is refused, a keyword string is a database, never a file name),
and no URL's credentials or key is ever printed, by any command, in any form."""

from __future__ import annotations

import socket
import sys

import pytest

from digest.config.settings import PostgresState, state_location
from digest.errors import ConfigError

SECRET = "hunter2-digest-secret"

# Every way libpq would read a secret from a state URL or keyword string.
SECRET_STATES = [
    f"postgresql://digest@db/d?pass%77ord={SECRET}",  # libpq decodes the keyword
    f"postgresql://digest@db/d?sslmode=require&sslpassword={SECRET}",  # the key's passphrase
    f"postgresql://digest@db/d?password={SECRET}",
    f"postgresql://digest:{SECRET}@db/d",
    f"postgresql://digest:{SECRET.replace('-', '%2D')}@db/d",
    f"postgres://db/d?oauth_client_secret={SECRET}",
    f"host=db password={SECRET}",
    f"host=db dbname=d password = '{SECRET} with spaces'",
    f"service=digest sslpassword={SECRET}",
]


@pytest.fixture(params=["libpq", "own reader"])
def reader(request, monkeypatch):
    """Judged by libpq itself (psycopg installed), and by digest's own reader (a SQLite
    user has no psycopg: the import fails)."""
    if request.param == "own reader":
        monkeypatch.setitem(sys.modules, "psycopg", None)
        monkeypatch.setitem(sys.modules, "psycopg.conninfo", None)
    return request.param


@pytest.mark.parametrize("text", SECRET_STATES)
def test_a_secret_in_the_state_is_refused_however_it_is_spelled(text, tmp_path, reader):
    with pytest.raises(ConfigError, match="a password does not belong") as refused:
        state_location(text, tmp_path)
    assert SECRET not in f"{refused.value} {refused.value.hint}"
    assert list(tmp_path.iterdir()) == [], "no file of that name"


@pytest.mark.parametrize(
    "text", ["dbname=digest user=digest", "host=db.example.org dbname=digest", "service=digest"]
)
def test_a_libpq_keyword_string_is_a_postgresql_state_not_a_file(text, tmp_path, reader):
    assert state_location(text, tmp_path) == PostgresState(text)


@pytest.mark.parametrize(
    "text",
    [
        f"hots=db passwd={SECRET}",  # keywords libpq does not know
        f"postgresql://db/d?pasword={SECRET}",
        f"postgresql://db/d?x=%zz{SECRET}",  # a '%' libpq cannot decode
        f"host='db password={SECRET}",  # a quote never closed
    ],
)
def test_a_connection_string_libpq_cannot_read_is_refused_not_a_file(text, tmp_path, reader):
    with pytest.raises(ConfigError, match="state: the PostgreSQL") as refused:
        state_location(text, tmp_path)
    assert SECRET not in f"{refused.value} {refused.value.hint}"
    assert "./" in (refused.value.hint or "") or "libpq" in refused.value.message


def test_a_file_name_with_an_equals_sign_is_still_a_file_when_written_as_a_path(tmp_path):
    assert state_location("./a=b.sqlite", tmp_path) == tmp_path / "a=b.sqlite"


@pytest.mark.parametrize("text", [*SECRET_STATES, f"postgresql://db/d?x=%zz&password={SECRET}"])
def test_a_state_a_caller_built_with_a_secret_never_shows_it(text):
    state = PostgresState(text)
    assert SECRET not in str(state) and SECRET not in repr(state)
    assert SECRET not in f"{state!r} {state!s} {[state]}"


def test_status_and_check_refuse_a_secret_in_the_state_and_never_print_it(tmp_path, run_cli):
    config = tmp_path / "digest.toml"
    config.write_text(f'state = "postgresql://digest@127.0.0.1/d?pass%77ord={SECRET}"\n')
    for command in (["status"], ["status", "--json"], ["check"], ["check", "--json"], ["run"]):
        result = run_cli(*command, "--config", config)
        assert result.code == (3 if command[0] == "check" else 2), result
        assert "a password does not belong" in result.out + result.err
        assert SECRET not in result.out + result.err
    on_the_line = run_cli("status", "--state", f"postgresql://db/d?sslpassword={SECRET}")
    assert on_the_line.code == 2 and SECRET not in on_the_line.out + on_the_line.err


def test_a_keyword_string_state_is_read_as_postgresql_and_creates_no_file(
    tmp_path, run_cli, monkeypatch
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    dsn = f"host=127.0.0.1 port={port} dbname=digest user=digest connect_timeout=2"
    result = run_cli("status", "--state", dsn)
    assert result.code == 75, result
    assert "cannot reach the PostgreSQL state host=127.0.0.1" in result.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no SQLite file named after it"


@pytest.mark.parametrize(
    ("line", "hidden"),
    [
        (f'url = "https://editor:{SECRET}@example.org/digest/"', SECRET),
        (f'[monitor]\nping_url = "https://hc-ping.com/{SECRET} x"', SECRET),
        (f'[monitor]\nping_url = "https://u:pw@hc-ping.com/{SECRET}"', SECRET),
        (f'[monitor]\nping_url = "ftp://hc-ping.com/{SECRET}"', SECRET),
        (f'[monitor]\nping_url = "https://hc-ping.com:port/{SECRET}"', SECRET),
        (f'[fetch]\nsource = "ftp://me:{SECRET}@example.org/api"', SECRET),
        (f'paper_link = "https://me:{SECRET}@example.org/?q={{title}} x"', SECRET),
    ],
)
def test_a_refused_url_is_quoted_without_its_credentials_or_key(tmp_path, run_cli, line, hidden):
    config = tmp_path / "digest.toml"
    config.write_text(line + "\n")
    result = run_cli("status", "--config", config, "--json")
    assert result.code == 2, result
    assert "digest: error:" in result.err and hidden not in result.err + result.out
