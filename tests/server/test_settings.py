"""``PREAU_*`` settings (preau/server/settings.py): one test per kind of setting —
how it is read from the environment and the sentence a bad value gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.settings import Settings, SettingsError


def refused(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_nothing_set_gives_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.effective_store_url == "sqlite:///preau-data/preau.db"
    assert settings.broker_url == "memory://"
    assert settings.session_idle_s == 2 * 3600
    assert settings.drain_s == 0.0
    assert settings.seed_demo is True
    assert settings.node_id.startswith("node-")
    assert Settings.from_env({}).node_id != settings.node_id  # one per process start


def test_an_empty_variable_counts_as_unset() -> None:
    settings = Settings.from_env({"PREAU_OPS_BURST": "", "PREAU_METRICS_HOST": "",
                                  "PREAU_NODE_ID": ""})
    assert settings.ops_burst == 60
    assert settings.metrics_host == "127.0.0.1"
    assert settings.node_id.startswith("node-")


def test_integers_are_read_and_bounded() -> None:
    assert Settings.from_env({"PREAU_SESSION_IDLE_S": "600"}).session_idle_s == 600
    assert refused({"PREAU_SESSION_IDLE_S": "59"}) == \
        "PREAU_SESSION_IDLE_S must be at least 60, got 59"
    assert refused({"PREAU_OPS_BURST": "beaucoup"}) == \
        "PREAU_OPS_BURST must be an integer, got 'beaucoup'"
    assert refused({"PREAU_METRICS_PORT": "-1"}) == "PREAU_METRICS_PORT must be at least 0, got -1"


def test_numbers_are_read_and_positive() -> None:
    assert Settings.from_env({"PREAU_DRAIN_S": "2.5"}).drain_s == 2.5
    assert Settings.from_env({"PREAU_SENDS_PER_S": "3"}).sends_per_s == 3.0
    assert refused({"PREAU_DRAIN_S": "0"}) == "PREAU_DRAIN_S must be positive, got 0.0"
    assert refused({"PREAU_PING_TIMEOUT_S": "vingt"}) == \
        "PREAU_PING_TIMEOUT_S must be a number, got 'vingt'"


@pytest.mark.parametrize(("raw", "value"), [
    ("1", True), ("true", True), ("Yes", True), ("on", True),
    ("0", False), ("FALSE", False), ("no", False), ("off", False),
])
def test_switches(raw: str, value: bool) -> None:
    assert Settings.from_env({"PREAU_COOKIE_SECURE": raw}).cookie_secure is value


def test_a_switch_that_is_neither() -> None:
    assert refused({"PREAU_SEED_DEMO": "peut-être"}) == \
        "PREAU_SEED_DEMO must be true or false, got 'peut-être'"


def test_text_and_paths() -> None:
    settings = Settings.from_env({"PREAU_BROKER_URL": "redis://127.0.0.1:6379/0",
                                  "PREAU_DATA_DIR": "/var/lib/preau",
                                  "PREAU_WEB_DIR": "/srv/web", "PREAU_OPS_TOKEN": "secret-x"})
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.data_dir == Path("/var/lib/preau")
    assert settings.web_dir == Path("/srv/web")
    assert settings.effective_store_url == "sqlite:////var/lib/preau/preau.db"
    assert "secret-x" not in repr(settings)  # secrets stay out of logs and tracebacks
    assert Settings.from_env({}).web_dir is None


def test_the_store_url_falls_back_on_database_url() -> None:
    assert Settings.from_env({"DATABASE_URL": "postgresql://db/preau"}).store_url == \
        "postgresql://db/preau"
    assert Settings.from_env({"DATABASE_URL": "postgresql://db/preau",
                              "PREAU_STORE_URL": "postgresql://other/preau"}).store_url == \
        "postgresql://other/preau"


def test_lists_are_comma_separated_and_each_item_checked() -> None:
    settings = Settings.from_env({
        "PREAU_ALLOWED_ORIGINS": "https://ent.example.fr/, https://app.example.fr",
        "PREAU_TURN_URLS": "turn:turn.example.fr:3478, stun:stun.example.fr",
    })
    assert settings.allowed_origins == {"https://ent.example.fr", "https://app.example.fr"}
    assert settings.turn_urls == ("turn:turn.example.fr:3478", "stun:stun.example.fr")
    assert refused({"PREAU_ALLOWED_ORIGINS": "*"}) == \
        "PREAU_ALLOWED_ORIGINS takes explicit origins, not '*'"
    assert refused({"PREAU_TURN_URLS": "https://turn"}) == \
        "PREAU_TURN_URLS takes stun:/turn: URLs, got 'https://turn'"


def test_values_with_a_grammar() -> None:
    assert Settings.from_env({"PREAU_LOG_FORMAT": "JSON"}).log_format == "json"
    assert refused({"PREAU_LOG_FORMAT": "xml"}) == \
        "PREAU_LOG_FORMAT must be text or json, got 'xml'"
    assert Settings.from_env({"PREAU_QUIET_HOURS_DEFAULT": "off"}).quiet_hours_default == "off"
    assert refused({"PREAU_QUIET_HOURS_DEFAULT": "le soir"}).startswith(
        "PREAU_QUIET_HOURS_DEFAULT: ")


def test_settings_that_go_together() -> None:
    assert refused({"PREAU_JANUS_URLS": "http://janus:8088/janus"}) == \
        "PREAU_JANUS_URLS needs PREAU_JANUS_ADMIN_SECRET"


def test_settings_in_code_read_no_environment_and_are_checked_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PREAU_OPS_BURST", "7")
    assert Settings.from_env().ops_burst == 7  # the process environment
    assert Settings().ops_burst == 60
    assert Settings(ops_burst=9).ops_burst == 9
    with pytest.raises(SettingsError, match="PREAU_OPS_BURST must be at least 1, got 0"):
        Settings(ops_burst=0)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(Exception, match="frozen"):
        settings.ops_burst = 3  # type: ignore[misc]
