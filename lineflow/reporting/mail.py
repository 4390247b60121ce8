"""The health summary by e-mail: HTML plus a plain-text part, over SMTP configured in YAML."""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage

from lineflow.config import EmailConfig
from lineflow.core.errors import ConfigError, LineflowError
from lineflow.reporting.health import HealthReport
from lineflow.reporting.render import health_html, health_text


class MailError(LineflowError):
    """The SMTP server could not be reached or refused the message."""


def compose_message(report: HealthReport, config: EmailConfig) -> EmailMessage:
    """The message (pure): subject with date and grade, text part first, HTML alternative."""
    if not config.recipients:
        raise ConfigError("health.email.recipients: no recipient configured")
    message = EmailMessage()
    message["Subject"] = config.subject.format(date=report.partition, grade=report.grade)
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message.set_content(health_text(report))
    message.add_alternative(health_html(report), subtype="html")
    return message


def send(message: EmailMessage, config: EmailConfig) -> None:
    """Deliver through the configured relay; credentials only from the environment."""
    user = os.environ.get(config.user_env, "") if config.user_env else ""
    password = os.environ.get(config.password_env, "") if config.password_env else ""
    if user and not password:
        raise ConfigError(f"health.email.password_env: ${config.password_env} is not set")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                context = ssl.create_default_context(
                    cafile=str(config.ca_file) if config.ca_file else None
                )
                smtp.starttls(context=context)
            if user:
                smtp.login(user, password)
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        # The server's reply may echo what we sent; say only what failed.
        raise MailError(
            f"SMTP {config.host}:{config.port}: login refused ({exc.smtp_code})"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        detail = str(exc).replace(password, "***") if password else str(exc)
        raise MailError(
            f"SMTP {config.host}:{config.port}: {type(exc).__name__}: {detail}"
        ) from None
