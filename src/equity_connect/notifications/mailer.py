"""Outgoing email: SMTP in production; a folder outbox for the demo (simulated delivery)."""

from __future__ import annotations

import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from equity_connect.config import Settings


class Mailer(Protocol):
    """Sends one message or raises."""

    def send(self, message: EmailMessage) -> None:
        """Deliver ``message``."""
        ...


class SmtpMailer:
    """Delivers through the configured SMTP server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        """Deliver over SMTP (STARTTLS and login when configured)."""
        s = self.settings
        assert s.smtp_host is not None  # chosen by mailer_for only when set
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)


class SimulatedOutbox:
    """Simulated delivery: each message becomes a file in a folder (demo and development).

    The folder is the data directory's, owner-only, since messages name homeowners.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write the message as an .eml file."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        (self.folder / name).write_bytes(bytes(message))


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when a host is configured, otherwise the simulated outbox in the data folder."""
    if settings.smtp_host:
        return SmtpMailer(settings)
    return SimulatedOutbox(settings.data_dir / "outbox")
