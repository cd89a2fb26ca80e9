"""The operator's single sign-on file: read whole or refused with where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau.server.settings import SettingsError
from preau.server.sso.config import SsoConfigError, load, parse

GOOD = {
    "passwords": {"off": ["pupil"], "schools": {"0750001a": {"off": ["teacher"]}}},
    "providers": {
        "academie": {"name": "Portail académique", "protocol": "oidc",
                     "issuer": "https://idp.example/", "client_id": "preau",
                     "client_secret": "s", "schools": ["0750001a"]},
        "ent": {"name": "ENT", "protocol": "cas", "server": "https://cas.example/cas/",
                "attribute": "uid", "match": "login"},
    },
}


def test_a_good_file() -> None:
    config = parse(GOOD)
    oidc, cas = config.providers["academie"], config.providers["ent"]
    assert (oidc.protocol, oidc.claim, oidc.match, oidc.scopes) == (
        "oidc", "sub", "external_id", ("openid", "profile"))
    assert oidc.schools == {"0750001A"}
    assert oidc.origin == "https://idp.example"
    assert (cas.server, cas.attribute, cas.match) == ("https://cas.example/cas", "uid", "login")
    assert config.for_school(oidc, "0750001a")
    assert not config.for_school(oidc, "0750002B")
    assert config.for_school(cas, "0750002B")
    # Pupils everywhere, teachers of one school: password off.
    assert not config.password_allowed("0750002B", "pupil")
    assert config.password_allowed("0750002B", "teacher")
    assert not config.password_allowed("0750001A", "teacher")
    assert config.password_allowed("0750001A", "parent")


def test_no_file_no_sso_and_passwords_everywhere() -> None:
    config = load(None)
    assert config.providers == {}
    assert config.password_allowed("X", "pupil")


@pytest.mark.parametrize(("change", "said"), [
    ({"protocol": "ldap"}, "protocol: 'oidc', 'cas' or 'saml'"),
    ({"protocol": "saml"}, "metadata is needed"),
    ({"protocol": "saml", "metadata": "https://i/m", "entity_id": "preau"}, "entity_id: a URL"),
    ({"issuer": "idp.example"}, "issuer: an http(s):// URL"),
    ({"client_secret": ""}, "client_secret or client_secret_file is needed"),
    ({"scopes": ["profile"]}, "must include 'openid'"),
    ({"match": "email"}, "match: 'external_id' or 'login'"),
    ({"secret": "typo"}, "unknown key 'secret'"),
    ({"name": ""}, "name is needed"),
    ({"frontchannel_sid": "x"}, "frontchannel_sid"),
])
def test_mistakes_are_refused_with_where(change: dict[str, object], said: str) -> None:
    raw = {"providers": {"academie": {**GOOD["providers"]["academie"], **change}}}  # type: ignore[index, dict-item]
    with pytest.raises(SsoConfigError) as caught:
        parse(raw)
    assert said in str(caught.value)
    assert "[providers.academie]" in str(caught.value)
    assert isinstance(caught.value, SettingsError)  # the server refuses to start


def test_a_saml_provider() -> None:
    config = parse({"providers": {"educonnect": {
        "name": "ÉduConnect", "protocol": "saml", "metadata": "https://idp.example/saml/metadata",
        "attribute": "uid", "schools": ["0750001a"]}}})
    found = config.providers["educonnect"]
    assert (found.protocol, found.metadata, found.attribute, found.entity_id, found.schools) == (
        "saml", "https://idp.example/saml/metadata", "uid", "", frozenset({"0750001A"}))
    assert found.origin == "https://idp.example"


def test_a_saml_provider_s_key_pair(tmp_path: Path) -> None:
    (tmp_path / "sp.key").write_text("key")
    (tmp_path / "sp.crt").write_text("cert")
    saml = {"name": "S", "protocol": "saml", "metadata": "https://i/m"}
    found = parse({"providers": {"s": {**saml, "key_file": "sp.key", "cert_file": "sp.crt"}}},
                  base=tmp_path).providers["s"]
    assert (found.key_file, found.cert_file) == (str(tmp_path / "sp.key"),
                                                 str(tmp_path / "sp.crt"))
    with pytest.raises(SsoConfigError, match="key_file and cert_file go together"):
        parse({"providers": {"s": {**saml, "key_file": "sp.key"}}}, base=tmp_path)
    with pytest.raises(SsoConfigError, match="cert_file: cannot read"):
        parse({"providers": {"s": {**saml, "key_file": "sp.key", "cert_file": "no.crt"}}},
              base=tmp_path)


def test_unknown_profile_and_section() -> None:
    with pytest.raises(SsoConfigError, match="got 'pupils'"):
        parse({"passwords": {"off": ["pupils"]}})
    with pytest.raises(SsoConfigError, match="unknown section 'provider'"):
        parse({"provider": {}})


def test_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-a-file\n")
    (tmp_path / "sso.toml").write_text(
        '[providers.a]\nname = "A"\nprotocol = "oidc"\nissuer = "https://a.example/"\n'
        'client_id = "c"\nclient_secret_file = "secret"\n')
    assert load(tmp_path / "sso.toml").providers["a"].client_secret == "from-a-file"
    (tmp_path / "bad.toml").write_text("[providers.a\n")
    with pytest.raises(SsoConfigError, match="not valid TOML"):
        load(tmp_path / "bad.toml")
    with pytest.raises(SsoConfigError, match="cannot read"):
        load(tmp_path / "absent.toml")
