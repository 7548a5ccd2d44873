"""The SMTP password never crosses the network in clear text: a login to another machine
without STARTTLS is refused when the settings are read (unless leave is given), and STARTTLS
checks the server's certificate, against a real SMTP server on this machine that takes a
login only over TLS."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rosterflow.flows import notify
from rosterflow.schemas.settings import SettingsError, parse_settings

RUN = {
    "outcome": "held",
    "tenant": "north",
    "run_id": 2,
    "feed": "north.zip",
    "changes": [],
    "issue_counts": [],
    "issues": [],
}


@pytest.mark.parametrize(
    "remote",
    [
        {"smtp_host": "smtp.district.example"},
        {"smtp_host": "10.0.0.5", "smtp_port": 587},
        {"smtp_host": "smtp.district.example", "smtp_starttls": False},
    ],
)
def test_a_login_to_another_machine_without_starttls_is_refused(remote):
    """The password was sent in clear text over the network, without a word."""
    with pytest.raises(SettingsError) as refused:
        parse_settings({"notify": {"email": "x@y", "smtp_user": "rosterflow"} | remote})
    port = remote.get("smtp_port", 25)
    assert str(refused.value) == (
        "settings: [notify] smtp_user is set and smtp_starttls is false: the SMTP password "
        f"would cross the network to {remote['smtp_host']}:{port} in clear text; set "
        "smtp_starttls = true (the server's port 587, usually), or smtp_login_without_tls = "
        "true for a server whose connection nobody else can read"
    )


@pytest.mark.parametrize(
    "allowed",
    [
        {"smtp_host": "smtp.district.example", "smtp_starttls": True},
        {"smtp_host": "smtp.district.example", "smtp_login_without_tls": True},
        {"smtp_host": "localhost"},
        {"smtp_host": "127.0.0.1"},
        {"smtp_host": "::1"},
        {"smtp_host": "smtp.district.example", "smtp_user": ""},  # no login, no password
    ],
)
def test_a_login_over_tls_on_this_machine_or_with_leave_is_taken(allowed):
    settings = parse_settings({"notify": {"email": "x@y", "smtp_user": "rosterflow"} | allowed})
    assert settings.notify.smtp_host == allowed["smtp_host"]


def test_the_settings_file_names_the_refused_keys(tmp_path):
    from rosterflow.schemas.settings import load_settings

    config = tmp_path / "settings.toml"
    config.write_text('[notify]\nemail = "x@y"\nsmtp_host = "mail.example"\nsmtp_user = "u"\n')
    with pytest.raises(SettingsError, match=rf"^{config}: \[notify\] smtp_user is set and "):
        load_settings(config)


class TlsMailbox:
    """An SMTP server on 127.0.0.1 with a certificate of its own authority, which takes a
    login only after STARTTLS; `messages` and `logins` hold what it was given."""

    def __init__(self, folder) -> None:
        self.messages: list = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.authority = folder / "authority.pem"
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.authority.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file = folder / "key.pem"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.authority, key_file)
        with socket.socket() as probe:  # a free port
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            authenticator=self.authenticate,
            auth_required=True,
        )

    def authenticate(self, _server, _session, _envelope, _mechanism, auth_data) -> AuthResult:
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def notify(self):
        return parse_settings(
            {
                "notify": {
                    "email": "data-team@district.example",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": self.port,
                    "smtp_starttls": True,
                    "smtp_user": "rosterflow",
                }
            }
        ).notify


@pytest.fixture
def tls_mailbox(tmp_path, monkeypatch):
    monkeypatch.setenv("ROSTERFLOW_SMTP_PASSWORD", "s3cret")
    box = TlsMailbox(tmp_path)
    # aiosmtpd's readiness check connects without TLS: none needed for it
    box.controller.start()
    yield box
    box.controller.stop()


def test_starttls_logs_in_to_a_server_whose_certificate_is_trusted(tls_mailbox, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_mailbox.authority))
    notify.send_email(tls_mailbox.notify(), RUN)
    assert tls_mailbox.logins == [(b"rosterflow", b"s3cret")]
    [message] = tls_mailbox.messages
    assert message["Subject"] == "rosterflow: north.zip held (run 2, tenant north)"


def test_starttls_sends_nothing_to_a_server_whose_certificate_is_not_trusted(
    tls_mailbox, monkeypatch
):
    """smtplib's STARTTLS checks no certificate: whoever answered in between got the
    password."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_mailbox.authority.with_name("none.pem")))
    with pytest.raises(notify.SmtpError) as refused:
        notify.send_email(tls_mailbox.notify(), RUN)
    assert str(refused.value).startswith(
        f"127.0.0.1:{tls_mailbox.port}: its certificate cannot be trusted (self-signed "
        "certificate), so nothing was sent; a certificate of the district's own authority is "
        "trusted when the file SSL_CERT_FILE names holds that authority's certificate"
    )
    assert tls_mailbox.logins == [] and tls_mailbox.messages == []


def test_a_login_without_tls_is_not_sent_even_from_settings_made_otherwise(monkeypatch):
    monkeypatch.setenv("ROSTERFLOW_SMTP_PASSWORD", "s3cret")
    allowed = parse_settings(
        {"notify": {"email": "x@y", "smtp_host": "127.0.0.2", "smtp_user": "u"}}
    ).notify
    remote = allowed.model_copy(update={"smtp_host": "smtp.district.example"})
    with pytest.raises(notify.SmtpError, match="the password would cross the network"):
        notify.send_email(remote, RUN)


def test_a_server_that_waits_for_tls_from_the_first_byte_is_named_as_such(monkeypatch):
    """Port 465 (SMTPS) waits for a TLS handshake while smtplib waits for its greeting: the
    notification failed after 10 s saying only "timed out"."""
    with socket.socket() as silent:  # accepts, then says nothing, as an SMTPS server does
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        monkeypatch.setattr(notify, "SMTPS_PORT", port)  # (465 itself may not be bound)
        monkeypatch.setattr(notify, "TIMEOUT_SECONDS", 0.3)
        settings = {"email": "x@y", "smtp_host": "127.0.0.1", "smtp_port": port}
        with pytest.raises(notify.SmtpError) as waited:
            notify.send_email(parse_settings({"notify": settings}).notify, RUN)
    assert str(waited.value) == (
        f"127.0.0.1:{port}: Connection unexpectedly closed: timed out; port {port} speaks TLS from the first byte (SMTPS), "
        "which rosterflow does not: give the server's STARTTLS port ([notify] smtp_port, 587 "
        "usually) with smtp_starttls = true"
    )
