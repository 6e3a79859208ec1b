"""Email addresses as digest sends to them: one address each, its domain in ASCII.

An address is written ``name@example.org`` or ``Name <name@example.org>``. Its domain goes
out in ASCII (IDNA: ``bücher.example`` is ``xn--bcher-kva.example``), in the envelope and
in the To: header alike, so that every server and mail client reads it; an encoded word
inside an address (``=?utf-8?q?j=C3=B6rg?=@…``) is read by none. A part before the @ that
is not ASCII (``jörg@…``) can only travel over SMTPUTF8 (RFC 6531), with the message's
headers in UTF-8 (RFC 6532): it is sent so when the server offers SMTPUTF8, and refused
by digest, saying so, when it does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

from digest.text import HEADER_UNSAFE

_LOCAL_UNSAFE = re.compile(r'[\s<>()\[\]\\,;:"\x00-\x1f\x7f]')
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?|\[[A-Za-z0-9.:]+\]")
FORM = "write name@example.org, or Name <name@example.org>"


class AddressError(ValueError):
    """Not an address digest can send to; the text says why."""


@dataclass(frozen=True, slots=True)
class MailAddress:
    name: str  # the display name, if any
    local: str  # before the @, as written
    domain: str  # after it, in ASCII

    @property
    def envelope(self) -> str:
        """As MAIL FROM and RCPT TO name it."""
        return f"{self.local}@{self.domain}"

    @property
    def header(self) -> str:
        """As a From: or To: header shows it (the name quoted where it must be)."""
        if not self.name:
            return self.envelope
        return str(Address(display_name=self.name, username=self.local, domain=self.domain))

    @property
    def mailbox(self) -> str:
        """The reader it names, however written: the envelope in lower case."""
        return self.envelope.lower()

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local.isascii()


def mail_address(text: str) -> MailAddress:
    """The one address ``text`` names, or AddressError with the reason."""
    if HEADER_UNSAFE.search(text):
        raise AddressError("it holds a line break or a control character")
    name, address = parseaddr(text)
    written = text.strip()
    bracketed = re.fullmatch(r"([^<>]*)<\s*" + re.escape(address) + r"\s*>", written)
    if not address or "@" not in address or (written != address and bracketed is None):
        raise AddressError("it is not one email address")
    local, _, domain = address.rpartition("@")
    if not local or _LOCAL_UNSAFE.search(local) or ".." in local or local.strip(".") != local:
        raise AddressError(f"its part before the @, {local!r}, is not one digest can send to")
    try:
        ascii_domain = domain if domain.isascii() else domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError(f"its domain {domain!r} is not a valid domain name") from None
    if not _DOMAIN.fullmatch(ascii_domain):
        raise AddressError(f"its domain {domain!r} is not a valid domain name")
    return MailAddress(name.strip(), local, ascii_domain)


def mailbox(text: str) -> str:
    """The mailbox an address names, as deliveries are kept and recipients counted:
    ``Ann <A@Bücher.example>`` and ``a@xn--bcher-kva.example`` are one (the envelope, in
    lower case: a copy to each form would reach one reader twice). Text that is no
    address is kept as it is."""
    try:
        return mail_address(text).mailbox
    except AddressError:
        return text
