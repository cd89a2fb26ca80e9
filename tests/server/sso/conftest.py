"""A real Préau server and a real LemonLDAP::NG portal on loopback, with a
school whose people are known by the external ids of the portal's users."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server.live import ROOT, LiveServer
from tests.server.sso.llng import CLIENT_SECRET, Llng, available

UAI = "0759999Z"
# The portal's demo users are dwho, rtyler and msmith. The school knows the
# first two by external id (as SIECLE/STS-web imports keep them), never
# activated; msmith is no one here.
SCHOOL_CSV = """id;profile;last_name;first_name;classes;parent_of;admin
dwho;teacher;Who;Doctor;5eB;;
rtyler;pupil;Tyler;Rose;5eB;;
P-TYLER;parent;Tyler;Jackie;;rtyler;
T-LOCAL;teacher;Local;Paul;5eB;;
"""


def sso_config(llng: Llng) -> str:
    return f"""
[passwords]
off = ["teacher"]

[providers.llng]
name = "LemonLDAP::NG (OIDC)"
protocol = "oidc"
issuer = "{llng.issuer}"
client_id = "preau"
client_secret = "{CLIENT_SECRET}"
scopes = ["openid", "profile", "email"]
schools = ["{UAI}"]
frontchannel_sid = "sub"

[providers.llngcas]
name = "LemonLDAP::NG (CAS)"
protocol = "cas"
server = "{llng.url}/cas"
schools = ["{UAI}"]
""" + (f"""
[providers.llngsaml]
name = "LemonLDAP::NG (SAML)"
protocol = "saml"
metadata = "{llng.url}/saml/metadata"
attribute = "uid"
schools = ["{UAI}"]
key_file = "{llng.sp_key}"
cert_file = "{llng.sp_cert}"
""" if llng.saml else "")


def import_school(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """``preau import`` as an operator runs it; the activation codes it prints, by login."""
    csv = data_dir / "school.csv"
    csv.write_text(SCHOOL_CSV, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "preau.server.cli", "import", "--school", UAI, "--name",
         "Collège des Tests", str(csv)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(re.findall(r"^(\S+)\s+\S+\s+(\S{4}-\S{4}-\S{4})\s", done.stdout, re.M))


@dataclass
class SsoSite:
    preau: LiveServer
    llng: Llng
    codes: dict[str, str]  # activation codes by login, as printed by the import

    def login_of(self, first_name: str) -> str:
        for login in self.codes:
            if login.startswith(first_name.lower()):
                return login
        raise KeyError(first_name)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsoSite]:
    available()
    base = tmp_path_factory.mktemp("sso")
    preau = LiveServer(base / "preau", {"PREAU_CHARTER_REQUIRED": "false"}, log_level="info")
    llng = Llng(base / "llng", preau.base_url)
    config = base / "sso.toml"
    config.write_text(sso_config(llng), encoding="utf-8")
    preau.env.update({"PREAU_SSO_CONFIG": str(config), "PREAU_PUBLIC_URL": preau.base_url})
    (base / "preau").mkdir()
    llng.start()  # first: it writes Préau's SAML key pair, which the config names
    try:
        codes = import_school({**preau.env, "PREAU_SEED_DEMO": "false"}, base / "preau")
        preau.start()
        try:
            yield SsoSite(preau, llng, codes)
        finally:
            preau.stop()
    finally:
        llng.stop()


def people_count(preau: LiveServer) -> int:
    with sqlite3.connect(preau.data_dir / "preau.db") as db:
        count: int = db.execute("SELECT count(*) FROM people").fetchone()[0]
    return count

