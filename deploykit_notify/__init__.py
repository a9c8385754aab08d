"""Notifications: senders for each channel kind (a signed webhook, Slack, Discord, SMTP e-mail)
behind ``deploykit.notification.Sender``, and the ``Notifier`` that ``deploykitd`` subscribes
to the event bus."""

from __future__ import annotations

from deploykit_notify.notifier import Notifier, NotifierSettings
from deploykit_notify.senders import SIGNATURE_HEADER, EmailSender, HTTPSender, sign

__all__ = ["SIGNATURE_HEADER", "EmailSender", "HTTPSender", "Notifier", "NotifierSettings", "sign"]
