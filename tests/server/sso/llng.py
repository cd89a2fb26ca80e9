"""A real identity provider for the single sign-on tests: Debian's
LemonLDAP::NG portal (the Web-SSO of French public services), speaking OpenID
Connect, CAS and SAML 2.0 (through Lasso, liblasso-perl), with its demo user
backend (dwho, rtyler, msmith: each password is the login), on a free
loopback port.

It runs the portal's own PSGI application under ``plackup`` with Debian's
Starman (four preforked workers): ``llng-fastcgi-server`` refuses to run as
root and nginx would add nothing a test needs (docs/decisions.md).
Its configuration is a File backend written here: the demo backend, an OIDC
relying party, a CAS application and a SAML service provider (Préau's own
metadata, as its /metadata route gives it) for Préau, front-channel logout,
CAS back-channel single logout, and a signing key the fixture generates (and
keeps: the back-channel test signs a logout token with it, as the provider
would), with a self-signed certificate for SAML.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlparse

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from preau.server.sso.config import Provider
from preau.server.sso.saml import SamlClient
from tests.needs import missing
from tests.server.live import free_port

PORTAL_DIR = Path("/usr/share/lemonldap-ng/portal/htdocs")
JAVASCRIPT_DIR = Path("/usr/share/javascript")

# The portal as Debian's portal-nginx.conf serves it: /static/ and
# /javascript/ are files, everything else goes to the portal's PSGI app.
# Through the app, a request for a script answers the login page and sets
# the portal's "pdata" cookie again from the one it was sent with: a favicon
# request still in flight when the login form is posted put back the
# finished authorization request, and the next /oauth2/logout replayed it
# ("Unknown response type", an error page instead of the logout question).
PORTAL_PSGI = f"""
use Plack::Builder;
use Plack::App::File;
my $portal = do "{PORTAL_DIR}/index.psgi";
builder {{
    mount "/static/" => Plack::App::File->new(root => "{PORTAL_DIR}/static")->to_app;
    mount "/javascript/" => Plack::App::File->new(root => "{JAVASCRIPT_DIR}")->to_app;
    mount "/" => $portal;
}};
"""
DEFAULT_CONF = Path("/var/lib/lemonldap-ng/conf/lmConf-1.json")
CLIENT_SECRET = "secret-de-test-preau-42"


def available() -> None:
    if not (PORTAL_DIR / "index.psgi").exists() or shutil.which("starman") is None:
        missing("LemonLDAP::NG is not installed (scripts/bootstrap.sh ensure_test_packages)")
    lasso = subprocess.run(["perl", "-MLasso", "-e1"], capture_output=True, check=False)
    if shutil.which("xmlsec1") is None or lasso.returncode != 0:
        missing("SAML needs xmlsec1 and liblasso-perl (scripts/bootstrap.sh ensure_test_packages)")


def certificate(key: rsa.RSAPrivateKey, name: str) -> str:
    """A self-signed certificate for ``key`` (SAML metadata carries certificates)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def preau_saml_metadata(preau_url: str, provider: str, key_file: str, cert_file: str) -> str:
    """Préau's SP metadata, made by the code its /metadata route runs."""
    client = SamlClient(Provider(provider, "SAML", "saml", metadata="http://unused/",
                                 key_file=key_file, cert_file=cert_file),
                        httpx.AsyncClient(), f"{preau_url}/api/auth/sso/{provider}/metadata",
                        f"{preau_url}/api/auth/sso/{provider}/callback",
                        f"{preau_url}/api/auth/sso/{provider}/slo")
    return client.metadata()


class Llng:
    def __init__(self, workdir: Path, preau_url: str, saml: bool = True) -> None:
        # ``saml``: its SAML issuer too (with it on, LemonLDAP::NG 2.16 ends an
        # OIDC logout without its confirmation and front-channel page, which
        # the browser test of OIDC logout walks through: that test has it off).
        self.saml = saml
        self.dir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = self.url + "/"
        self.preau_url = preau_url
        self.process: subprocess.Popen[bytes] | None = None
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def _write(self) -> None:
        d = self.dir
        for sub in ("conf", "sessions/lock", "psessions/lock", "cache", "notifications"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        private = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()
        public = self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        rp = self.preau_url
        conf: dict[str, Any] = json.loads(DEFAULT_CONF.read_text())
        conf.update({
            "cfgNum": 1, "portal": self.issuer, "domain": "127.0.0.1", "securedCookie": 0,
            "globalStorageOptions": {
                "Directory": f"{d}/sessions", "LockDirectory": f"{d}/sessions/lock",
                "generateModule": "Lemonldap::NG::Common::Apache::Session::Generate::SHA256"},
            "persistentStorageOptions": {"Directory": f"{d}/psessions",
                                         "LockDirectory": f"{d}/psessions/lock"},
            "localSessionStorageOptions": {
                "cache_depth": 3, "cache_root": f"{d}/cache", "default_expires_in": 600,
                "directory_umask": "007", "namespace": "lemonldap-ng-sessions"},
            "notificationStorageOptions": {"dirName": f"{d}/notifications"},
            "notification": 0, "loginHistoryEnabled": 0, "reloadUrls": {},
            "captcha_mail_enabled": 0, "captcha_register_enabled": 0,
            "trustedDomains": "127.0.0.1",
            # OpenID Connect: Préau as a confidential client with PKCE.
            "issuerDBOpenIDConnectActivation": 1,
            "oidcServicePrivateKeySig": private, "oidcServicePublicKeySig": public,
            "oidcServiceKeyIdSig": "preau-test",
            "oidcServiceAllowAuthorizationCodeFlow": 1,
            "oidcRPMetaDataOptions": {"preau": {
                "oidcRPMetaDataOptionsClientID": "preau",
                "oidcRPMetaDataOptionsClientSecret": CLIENT_SECRET,
                "oidcRPMetaDataOptionsRedirectUris": rp + "/api/auth/sso/llng/callback",
                "oidcRPMetaDataOptionsBypassConsent": 1,
                "oidcRPMetaDataOptionsIDTokenSignAlg": "RS256",
                "oidcRPMetaDataOptionsRequirePKCE": 1,
                "oidcRPMetaDataOptionsUserIDAttr": "uid",
                "oidcRPMetaDataOptionsLogoutUrl": rp + "/api/auth/sso/llng/frontchannel-logout",
                "oidcRPMetaDataOptionsLogoutType": "front",
                "oidcRPMetaDataOptionsLogoutSessionRequired": 1,
                "oidcRPMetaDataOptionsLogoutBypassConfirm": 1,
                "oidcRPMetaDataOptionsPostLogoutRedirectUris": rp + "/",
            }},
            "oidcRPMetaDataExportedVars": {"preau": {"email": "mail", "name": "cn"}},
            # CAS 3.0 with back-channel single logout.
            "issuerDBCASActivation": 1, "casBackChannelSingleLogout": 1,
            "casAccessControlPolicy": "none",
            "casAppMetaDataOptions": {"preau": {
                "casAppMetaDataOptionsService": rp + "/",
                "casAppMetaDataOptionsUserAttribute": "uid"}},
            "casAppMetaDataExportedVars": {"preau": {"mail": "mail", "cn": "cn"}},
        })
        if self.saml:
            conf.update(self._saml(private))
        (d / "conf" / "lmConf-1.json").write_text(json.dumps(conf))
        (d / "lemonldap-ng.ini").write_text(
            "[all]\nlogLevel = notice\ncheckTime = 1\n"
            f"[configuration]\ntype=File\ndirName = {d}/conf\n"
            "[portal]\nstaticPrefix = /static\n"
            "templateDir = /usr/share/lemonldap-ng/portal/templates\nlanguages = fr, en\n")

    @property
    def sp_key(self) -> Path:
        """Préau's SAML key pair (its config names these files)."""
        return self.dir / "preau-saml.key"

    @property
    def sp_cert(self) -> Path:
        return self.dir / "preau-saml.crt"

    def _saml(self, private: str) -> dict[str, Any]:
        rp = self.preau_url
        sp_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sp_key.write_bytes(sp_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption()))
        self.sp_cert.write_text(certificate(sp_key, "Préau test SP"))
        return {
            # SAML 2.0: Préau as a service provider; assertions signed with the key.
            "issuerDBSAMLActivation": 1,
            "samlServicePrivateKeySig": private,
            "samlServicePublicKeySig": certificate(self.key, "LemonLDAP::NG test IdP"),
            "samlSPMetaDataXML": {"preau": {
                "samlSPMetaDataXML": preau_saml_metadata(
                    rp, "llngsaml", str(self.sp_key), str(self.sp_cert))}},
            "samlSPMetaDataOptions": {"preau": {
                # Préau signs its AuthnRequests and LogoutRequests: checked.
                "samlSPMetaDataOptionsCheckSSOMessageSignature": 1,
                "samlSPMetaDataOptionsCheckSLOMessageSignature": 1,
                "samlSPMetaDataOptionsSignSSOMessage": 1,
                "samlSPMetaDataOptionsSignSLOMessage": 1,
                "samlSPMetaDataOptionsEncryptionMode": "none",
                "samlSPMetaDataOptionsSignatureMethod": "RSA_SHA256",
                "samlSPMetaDataOptionsNameIDFormat": "transient",
                "samlSPMetaDataOptionsOneTimeUse": 0,
            }},
            "samlSPMetaDataExportedAttributes": {"preau": {
                "uid": "1;uid;urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}},
        }

    def start(self, timeout: float = 60.0) -> Llng:
        available()
        self._write()
        (self.dir / "portal.psgi").write_text(PORTAL_PSGI, encoding="utf-8")
        log = (self.dir / "llng.log").open("ab")
        self.process = subprocess.Popen(
            # Starman, a preforking server: a single-threaded one stalls a
            # browser whose preconnected, never-used socket it waits on while
            # the page's render-blocking script queues behind it.
            ["plackup", "-s", "Starman", "--workers", "4", "--read-timeout", "2",
             "--listen", f"127.0.0.1:{self.port}", str(self.dir / "portal.psgi")],
            cwd=PORTAL_DIR, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "LLNG_DEFAULTCONFFILE": str(self.dir / "lemonldap-ng.ini"),
                 "LLNG_DEFAULTLOGGER": "Lemonldap::NG::Common::Logger::Std"})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"LemonLDAP::NG exited:\n{self.log_tail()}")
            try:
                r = httpx.get(self.url + "/.well-known/openid-configuration", timeout=2)
                if r.status_code == 200 and r.json().get("issuer") == self.issuer:
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"LemonLDAP::NG did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "llng.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) \
            if path.exists() else ""


class Browser:
    """A person's browser, as far as redirects, forms and cookies go: it
    follows Préau's redirect to the portal, fills the portal's login form,
    and comes back. One httpx client holds both sites' cookies."""

    def __init__(self) -> None:
        self.http = httpx.AsyncClient(follow_redirects=False, timeout=20)

    async def close(self) -> None:
        await self.http.aclose()

    async def follow(self, response: httpx.Response, stop_at: str,
                     limit: int = 8) -> httpx.Response:
        """Follow redirects until one points at ``stop_at`` (not followed) or none."""
        for _ in range(limit):
            location = response.headers.get("location")
            if location is None:
                return response
            url = urljoin(str(response.url), location)
            if url.startswith(stop_at):
                return response
            response = await self.http.get(url)
        raise AssertionError("too many redirects")

    async def sign_in(self, start_url: str, user: str, password: str,
                      back_to: str) -> httpx.Response:
        """Préau's start URL → the portal's form → the redirect to ``back_to``
        (returned, not followed). A browser already signed in at the portal
        skips the form."""
        response = await self.follow(await self.http.get(start_url), back_to)
        if "location" not in response.headers:
            form = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"',
                                   response.text))
            form.update(user=user, password=password)
            response = await self.follow(
                await self.http.post(str(response.url), data=form), back_to)
        assert response.headers.get("location", "").startswith(back_to), (
            response.status_code, response.headers, response.text[:500])
        return response

    @staticmethod
    def query(response: httpx.Response) -> dict[str, str]:
        return dict(parse_qsl(urlparse(response.headers["location"]).query))
