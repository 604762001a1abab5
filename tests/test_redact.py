"""No password, in any form a database driver accepts, is shown or stored (issue 30): the one
redaction function (``dlbs.redact``) used for every URL and command line."""
from __future__ import annotations

import pytest

from dlbs.redact import hide_values, redact_argv, redact_text, redact_url, url_secrets

SECRET = "Pl4nted-s3cret"


@pytest.mark.parametrize("url, shown", [
    pytest.param(f"postgresql+psycopg://me:{SECRET}@db:5432/bench",
                 "postgresql+psycopg://me:***@db:5432/bench", id="user-info"),
    pytest.param(f"postgresql+psycopg://me@db/bench?password={SECRET}",
                 "postgresql+psycopg://me@db/bench?password=***", id="query-password"),
    pytest.param(f"postgresql://db/bench?sslmode=require&PGPASSWORD={SECRET}&connect_timeout=5",
                 "postgresql://db/bench?sslmode=require&PGPASSWORD=***&connect_timeout=5",
                 id="pgpassword-style-option"),
    pytest.param(f"postgresql://db/bench?sslpassword={SECRET}",
                 "postgresql://db/bench?sslpassword=***", id="ssl-key-password"),
    pytest.param(f"postgresql://me:{SECRET}@db/b?password={SECRET}",
                 "postgresql://me:***@db/b?password=***", id="both"),
    pytest.param("postgresql://me:p@ss@db/bench", "postgresql://me:***@db/bench",
                 id="unencoded-at-in-password"),
    pytest.param("postgresql://me:p/ss@db/bench", "postgresql://me:***@db/bench",
                 id="slash-in-password"),
    pytest.param("postgresql://me:p%40ss@db/bench", "postgresql://me:***@db/bench",
                 id="encoded-password"),
    pytest.param("postgresql://db/bench?service=team&passfile=/home/me/.pgpass",
                 "postgresql://db/bench?service=team&passfile=/home/me/.pgpass",
                 id="service-and-passfile-kept"),
    pytest.param("sqlite:////data/results.db", "sqlite:////data/results.db", id="sqlite-kept"),
    pytest.param("postgresql://me@db:5432/bench", "postgresql://me@db:5432/bench",
                 id="no-password-kept"),
])
def test_every_form_of_password_in_a_url_is_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent


def test_a_password_in_free_text_and_in_a_connection_string_is_hidden() -> None:
    text = (f"connect to postgresql://u:{SECRET}@h/d failed; conninfo host=h "
            f"password='{SECRET}' user=u, then password = {SECRET} again")
    out = redact_text(text)
    assert SECRET not in out
    assert "postgresql://u:***@h/d failed" in out and "host=h" in out and "user=u" in out


def test_a_command_line_keeps_every_word_but_the_secrets() -> None:
    argv = ["experimenter", "run", "--db", f"postgresql://u@h/d?password={SECRET}",
            f"--db=postgresql://u:{SECRET}@h/d", "-Pexp.model=resnet50", f"-Papi_token={SECRET}",
            "-Pexp.max_tokens=128"]
    out = redact_argv(argv)
    assert SECRET not in " ".join(out)
    assert out[:3] == argv[:3] and out[5] == argv[5] and out[7] == argv[7]
    assert out[3] == "postgresql://u@h/d?password=***"


def test_a_drivers_echo_of_the_decoded_password_is_hidden() -> None:
    url = "postgresql://u:p%40ss%20word@h/d?password=second%2Bone"
    assert {"p@ss word", "second+one"} <= set(url_secrets(url))
    message = "FATAL: password 'p@ss word' or 'second+one' rejected"
    out = hide_values(message, url_secrets(url))
    assert "p@ss word" not in out and "second+one" not in out and "FATAL" in out


@pytest.mark.parametrize("quote", ["'", '"', "`", "<", ">"])
def test_a_quote_inside_a_password_does_not_end_the_url_early(quote: str) -> None:
    secret = f"pa{quote}{SECRET}"
    argv = ["experimenter", "run", f"--db=postgresql://u:{secret}@h/d",
            f"--db=sqlite:///x.db?password={secret}"]
    out = " ".join(redact_argv(argv))
    assert SECRET not in out and "u:***@h/d" in out
    text = redact_text(f"unrecognized arguments: postgresql://u:{secret}@h/d")
    assert SECRET not in text and text.endswith("postgresql://u:***@h/d")
    assert redact_text(f"in '{'postgresql://u:pw@h/d'}' here") == "in 'postgresql://u:***@h/d' here"


@pytest.mark.parametrize("url, shown", [
    pytest.param(f"postgresql://u@h/db?options=-c%20password%3D{SECRET}",
                 "postgresql://u@h/db?options=-c+password=***", id="options-percent-encoded"),
    pytest.param(f"postgresql://u@h/db?options=-c+password%3D{SECRET}",
                 "postgresql://u@h/db?options=-c+password=***", id="options-as-rendered"),
    pytest.param(f"postgresql://u@h/db?options=-c password={SECRET}",
                 "postgresql://u@h/db?options=-c password=***", id="options-decoded"),
    pytest.param(f"postgresql://u@h/db?passwd=x&pwd={SECRET}",
                 "postgresql://u@h/db?passwd=***&pwd=***", id="pwd-option"),
    pytest.param(f"postgresql://u@h/db?credentials={SECRET}&pass={SECRET}",
                 "postgresql://u@h/db?credentials=***&pass=***", id="credential-and-pass"),
    pytest.param(f"postgresql://u:{SECRET}@h/db#frag{SECRET}",
                 "postgresql://u:***@h/db#***", id="fragment"),
    pytest.param(f"postgresql://u:{SECRET}@h/db?port=1#{SECRET}?password=x",
                 "postgresql://u:***@h/db?port=1#***", id="fragment-after-query"),
    pytest.param(f"postgresql://u:{SECRET}@h:1/db%23frag{SECRET}?port=1",
                 "postgresql://u:***@h:1/db%23***?port=1", id="fragment-as-sqlalchemy-renders"),
    pytest.param(f"postgresql://u:{SECRET}@h/db?x=1;password={SECRET}",
                 "postgresql://u:***@h/db?x=1;password=***", id="semicolon-in-query"),
    pytest.param(f"postgresql://u@h/db?x=1%3Bpassword%3D{SECRET}",
                 "postgresql://u@h/db?x=1;password=***", id="semicolon-in-query-encoded"),
    pytest.param(f"postgresql://u@h/db;password={SECRET}",
                 "postgresql://u@h/db;password=***", id="database-name"),
    pytest.param(f"postgresql://u@h/db%3Bpassword%3D{SECRET}",
                 "postgresql://u@h/db;password=***", id="database-name-encoded"),
])
def test_a_password_inside_a_name_a_value_or_a_fragment_is_hidden(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent
    assert SECRET not in redact_text(f"error: input '{url}' does not exist")
    assert SECRET in url_secrets(url)  # what a driver may echo is hidden from its messages


def test_a_url_already_shown_keeps_the_punctuation_after_it() -> None:
    line = f"--db {redact_url(f'postgresql://u@h/db?pwd={SECRET}')}: cannot open the database"
    assert redact_text(line) == "--db postgresql://u@h/db?pwd=***: cannot open the database"
    fragment = redact_url(f"postgresql://u@h/db%23{SECRET}")
    assert redact_text(f"--db {fragment}, then") == "--db postgresql://u@h/db%23***, then"


def test_a_drivers_echo_of_the_database_name_and_its_fragment_is_hidden() -> None:
    url = f"postgresql://u@h/db%23frag{SECRET}"
    out = hide_values(f'FATAL: database "db#frag{SECRET}" does not exist', url_secrets(url))
    assert SECRET not in out and out.startswith('FATAL: database "db#')
