"""`lineflow health email=true`: the summary arrives at a real SMTP server on loopback."""

from __future__ import annotations

import email
import socket
import ssl
from email import policy

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import run_cli

USER, PASSWORD = "ops", "s3cr+t/pass"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path):
    """An SMTP server on 127.0.0.1 that requires STARTTLS before AUTH (as a real relay does)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield inbox, controller.port, ca_file
    finally:
        controller.stop()


def test_summary_arrives_with_subject_both_parts_and_the_figures(week_home, smtp):
    inbox, port, ca_file = smtp
    result = run_cli(
        "health",
        "date=2026-01-23",
        f"home={week_home}",
        "email=true",
        f"health.email.port={port}",
        "health.email.starttls=true",
        f"health.email.ca_file={ca_file}",
        "health.email.recipients=[ops@example.com]",
        env={"LINEFLOW_SMTP_USER": USER, "LINEFLOW_SMTP_PASSWORD": PASSWORD},
    )
    assert result.code == 0, result.stderr
    assert "e-mailed to ops@example.com" in result.stdout
    ((rcpt, raw),) = inbox.messages
    assert rcpt == ["ops@example.com"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "lineflow health 2026-01-23: partial"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Phase 1 scrape: 2/3 processors" in text
    assert "Phase 2 process: 3/3 processors" in text
    assert "bettingpros props: blocked" in text
    assert "odds_api props: ok, 6,268 of 400" in text
    assert "draftkings props: ok, 564 of 400" in text
    assert '<svg id="chart-rows"' in html and 'data-value="6268"' in html
    assert PASSWORD not in raw.decode() + result.stdout + result.stderr


def test_no_recipient_is_bad_input(week_home):
    result = run_cli("health", "date=2026-01-23", f"home={week_home}", "email=true")
    assert result.code == 2
    assert "health.email.recipients: no recipient configured" in result.stderr
