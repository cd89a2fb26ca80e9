"""The operator's single sign-on file (``PREAU_SSO_CONFIG``), read once, pure.

A TOML file (docs/operations.md, "Single sign-on")::

    [passwords]
    off = ["pupil", "parent"]            # the whole deployment
    [passwords.schools.0750001A]
    off = ["teacher"]                    # and, in addition, one school (UAI)

    [providers.academie]
    name = "Portail académique"          # the button: "Se connecter avec …"
    protocol = "oidc"                    # or "cas", "saml"
    issuer = "https://idp.example/"      # OIDC: its discovery document is read
    client_id = "preau"
    client_secret_file = "/etc/preau/academie.secret"   # or client_secret
    claim = "sub"                        # the claim that names the person
    match = "external_id"                # or "login"
    schools = ["0750001A"]               # the schools it serves (all when absent)

    [providers.ent]
    name = "ENT de la région"
    protocol = "cas"
    server = "https://cas.example/cas"   # its /login, /p3/serviceValidate
    attribute = ""                       # "" (cas:user) or an attribute's name

    [providers.educonnect]
    name = "ÉduConnect"
    protocol = "saml"
    metadata = "https://idp.example/saml/metadata"   # the IdP's SAML 2.0 metadata
    attribute = "uid"                    # "" (the NameID) or an attribute's name
    entity_id = ""                       # Préau's; default: its metadata URL
    key_file = "preau-saml.key"          # optional, with cert_file: Préau signs its
    cert_file = "preau-saml.crt"         # requests and its logout ends the IdP's session

Every mistake is refused at start-up with the file, the provider and the key
in one sentence (:class:`SsoConfigError`), never a half-read configuration.
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from preau.server.settings import SettingsError

PROFILES = frozenset({"pupil", "parent", "teacher", "staff"})
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class SsoConfigError(SettingsError):
    """A mistake in the file: the server refuses to start, saying where."""


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str
    protocol: Literal["oidc", "cas", "saml"]
    match: Literal["external_id", "login"] = "external_id"
    schools: frozenset[str] = frozenset()  # UAI codes; empty: every school
    # OpenID Connect
    issuer: str = ""
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = ("openid", "profile")
    claim: str = "sub"
    # Front-channel logout names the IdP session by ``sid``; LemonLDAP::NG 2.16
    # sends the subject there instead ("sub"), docs/decisions.md.
    frontchannel_sid: Literal["sid", "sub"] = "sid"
    # CAS
    server: str = ""
    attribute: str = ""  # CAS and SAML: "" (the user, the NameID) or an attribute's name
    # SAML 2.0
    metadata: str = ""  # the identity provider's metadata URL
    entity_id: str = ""  # Préau's entity id ("": its metadata URL)
    # Préau's own key pair (PEM files): AuthnRequests and LogoutRequests signed,
    # the certificate in Préau's metadata; Préau's logout then ends the
    # provider's session too. Both or neither.
    key_file: str = ""
    cert_file: str = ""

    @property
    def origin(self) -> str:
        """The IdP's origin (scheme://host[:port]), allowed to frame the front-channel page."""
        url = self.issuer or self.server or self.metadata
        m = re.match(r"(https?://[^/]+)", url)
        return m.group(1) if m else ""


@dataclass(frozen=True, slots=True)
class SsoConfig:
    providers: dict[str, Provider] = field(default_factory=dict)
    passwords_off: frozenset[str] = frozenset()
    passwords_off_by_school: dict[str, frozenset[str]] = field(default_factory=dict)

    def password_allowed(self, school_uai: str, profile: str) -> bool:
        """May this profile of this school log in or activate with a password?"""
        off = self.passwords_off | self.passwords_off_by_school.get(school_uai.upper(), frozenset())
        return profile not in off

    def for_school(self, provider: Provider, school_uai: str) -> bool:
        return not provider.schools or school_uai.upper() in provider.schools


def load(path: Path | None) -> SsoConfig:
    """The configuration in ``path``; none (no SSO, passwords everywhere) without one."""
    if path is None:
        return SsoConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SsoConfigError(f"PREAU_SSO_CONFIG: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SsoConfigError(f"PREAU_SSO_CONFIG: {path} is not valid TOML: {exc}") from None
    return parse(raw, str(path), path.parent)


def parse(raw: dict[str, Any], where: str = "sso", base: Path | None = None) -> SsoConfig:
    unknown = set(raw) - {"passwords", "providers"}
    if unknown:
        raise SsoConfigError(f"{where}: unknown section {sorted(unknown)[0]!r}")
    passwords = _table(raw.get("passwords", {}), f"{where} [passwords]")
    off = _profiles(passwords.get("off", []), f"{where} [passwords] off")
    by_school: dict[str, frozenset[str]] = {}
    for uai, table in _table(passwords.get("schools", {}), f"{where} [passwords.schools]").items():
        here = f"{where} [passwords.schools.{uai}]"
        by_school[uai.upper()] = _profiles(_table(table, here).get("off", []), here + " off")
    extra = set(passwords) - {"off", "schools"}
    if extra:
        raise SsoConfigError(f"{where} [passwords]: unknown key {sorted(extra)[0]!r}")
    providers = {}
    for pid, table in _table(raw.get("providers", {}), f"{where} [providers]").items():
        providers[pid] = _provider(pid, _table(table, f"{where} [providers.{pid}]"),
                                   f"{where} [providers.{pid}]", base)
    return SsoConfig(providers, off, by_school)


def _provider(pid: str, t: dict[str, Any], here: str, base: Path | None) -> Provider:
    if not _ID.fullmatch(pid):
        raise SsoConfigError(f"{here}: a provider's id is 1-32 of a-z, 0-9, '-', '_'")
    known = {"name", "protocol", "match", "schools", "issuer", "client_id", "client_secret",
             "client_secret_file", "scopes", "claim", "frontchannel_sid", "server", "attribute",
             "metadata", "entity_id", "key_file", "cert_file"}
    extra = set(t) - known
    if extra:
        raise SsoConfigError(f"{here}: unknown key {sorted(extra)[0]!r}")
    name = _str(t, "name", here, required=True)
    protocol = _str(t, "protocol", here, required=True)
    if protocol not in ("oidc", "cas", "saml"):
        raise SsoConfigError(f"{here} protocol: 'oidc', 'cas' or 'saml', got {protocol!r}")
    match = _str(t, "match", here) or "external_id"
    if match not in ("external_id", "login"):
        raise SsoConfigError(f"{here} match: 'external_id' or 'login', got {match!r}")
    schools = frozenset(s.upper() for s in _strs(t.get("schools", []), f"{here} schools"))
    if protocol == "saml":
        if shutil.which("xmlsec1") is None:
            raise SsoConfigError(f"{here}: SAML needs the xmlsec1 program on this node"
                                 " (Debian: apt-get install xmlsec1)")
        entity_id = _str(t, "entity_id", here)
        if entity_id and not entity_id.startswith(("https://", "http://", "urn:")):
            raise SsoConfigError(f"{here} entity_id: a URL or a URN, got {entity_id[:60]!r}")
        files = {}
        for key in ("key_file", "cert_file"):
            value = _str(t, key, here)
            if value:
                path = Path(value) if base is None else base / value
                if not path.is_file():
                    raise SsoConfigError(f"{here} {key}: cannot read {path}")
                files[key] = str(path)
        if len(files) == 1:
            raise SsoConfigError(f"{here}: key_file and cert_file go together")
        return Provider(pid, name, "saml", match, schools,  # type: ignore[arg-type]
                        metadata=_url(t, "metadata", here), entity_id=entity_id,
                        attribute=_str(t, "attribute", here),
                        key_file=files.get("key_file", ""), cert_file=files.get("cert_file", ""))
    if protocol == "cas":
        server = _url(t, "server", here).rstrip("/")
        return Provider(pid, name, "cas", match, schools,  # type: ignore[arg-type]
                        server=server, attribute=_str(t, "attribute", here))
    issuer = _url(t, "issuer", here)
    client_id = _str(t, "client_id", here, required=True)
    secret = _str(t, "client_secret", here)
    secret_file = _str(t, "client_secret_file", here)
    if secret_file:
        path = Path(secret_file) if base is None else base / secret_file
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SsoConfigError(f"{here} client_secret_file: cannot read {path}:"
                                 f" {exc.strerror}") from None
    if not secret:
        raise SsoConfigError(f"{here}: client_secret or client_secret_file is needed")
    scopes = tuple(_strs(t.get("scopes", ["openid", "profile"]), f"{here} scopes"))
    if "openid" not in scopes:
        raise SsoConfigError(f"{here} scopes: must include 'openid'")
    fc = _str(t, "frontchannel_sid", here) or "sid"
    if fc not in ("sid", "sub"):
        raise SsoConfigError(f"{here} frontchannel_sid: 'sid' or 'sub', got {fc!r}")
    return Provider(pid, name, "oidc", match, schools,  # type: ignore[arg-type]
                    issuer=issuer, client_id=client_id, client_secret=secret, scopes=scopes,
                    claim=_str(t, "claim", here) or "sub",
                    frontchannel_sid=fc)  # type: ignore[arg-type]


def _table(value: Any, here: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SsoConfigError(f"{here}: expected a table")
    return value


def _str(t: dict[str, Any], key: str, here: str, required: bool = False) -> str:
    value = t.get(key, "")
    if not isinstance(value, str):
        raise SsoConfigError(f"{here} {key}: expected a string")
    if required and not value.strip():
        raise SsoConfigError(f"{here}: {key} is needed")
    return value.strip()


def _strs(value: Any, here: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SsoConfigError(f"{here}: expected a list of strings")
    return [v.strip() for v in value if v.strip()]


def _profiles(value: Any, here: str) -> frozenset[str]:
    found = frozenset(_strs(value, here))
    unknown = found - PROFILES
    if unknown:
        raise SsoConfigError(f"{here}: profiles among pupil, parent, teacher, staff;"
                             f" got {sorted(unknown)[0]!r}")
    return found


def _url(t: dict[str, Any], key: str, here: str) -> str:
    value = _str(t, key, here, required=True)
    if not value.startswith(("https://", "http://")):
        raise SsoConfigError(f"{here} {key}: an http(s):// URL, got {value[:60]!r}")
    return value
