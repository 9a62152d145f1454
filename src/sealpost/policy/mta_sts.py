"""MTA-STS (RFC 8461) as pure values: the TXT record, the policy file, MX pattern matching.

- ``parse_txt`` implements RFC 8461 section 3.1: of the ``_mta-sts`` TXT records, those not
  beginning with ``v=STSv1`` are discarded; if the number left is not exactly one, or that one
  is syntactically invalid, the domain has no available policy (MUST). ``id`` is 1-32
  letters and digits; extension fields are checked for syntax and otherwise ignored.
- ``parse_policy`` implements the section 3.2 grammar strictly: ``version: STSv1``, ``mode``
  (``enforce`` | ``testing`` | ``none``) and ``max_age`` (1-10 digits, at most 31557600) are
  required, ``mx`` at least once unless the mode is ``none``; keys are case-sensitive; lines
  end in LF or CRLF; unknown fields are ignored (MUST accept); of a repeated field other than
  ``mx`` all entries but the first are ignored (SHALL). Any line that is not a ``key: value``
  field makes the whole policy invalid. The grammar puts no order on the fields, so
  ``version`` is not required to come first (section 3.2: parsers MUST accept every
  syntactically valid policy).
- ``mx_matches`` implements section 4.1: a pattern is an exact host name or ``*.`` plus a
  domain, and the wildcard stands for exactly one leftmost label; comparison is
  case-insensitive and ignores a trailing dot.

Nothing here raises on bad input (checklist L4): every failure is an ``StsError`` carrying the
RFC 8460 result type to report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sealpost.model.tlsrpt import TlsFailure

MAX_AGE_LIMIT = 31_557_600  # RFC 8461 section 3.2: about one year
MAX_POLICY_BYTES = 64 * 1024  # RFC 8461 section 3.3: senders may limit the body to 64 KiB

_VERSION = "v=STSv1"
_TXT_DELIM = re.compile(r"[ \t]*;[ \t]*")
_TXT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_TXT_EXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}=[\x21-\x3a\x3c\x3e-\x7e]+")
_POLICY_FIELD = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.\-]{0,31}):[ \t]*(.*)", re.DOTALL)
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs except HTAB


class StsMode(StrEnum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


_MODES = frozenset(mode.value for mode in StsMode)


@dataclass(frozen=True, slots=True)
class StsRecord:
    """The one valid ``_mta-sts.<domain>`` TXT record."""

    id: str  # changes whenever the published policy changes
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class StsPolicy:
    """A valid policy file; ``mx`` patterns are lower case without a trailing dot."""

    mode: StsMode
    max_age: int
    mx: tuple[str, ...] = ()

    def mx_allowed(self, host: str) -> bool:
        """Whether ``host`` matches one of the policy's ``mx`` patterns."""
        return any(mx_matches(pattern, host) for pattern in self.mx)

    def text(self) -> str:
        """The policy as canonical lines (the TLS-RPT ``policy-string``, RFC 8460 4.4)."""
        lines = ["version: STSv1", f"mode: {self.mode.value}"]
        lines += [f"mx: {pattern}" for pattern in self.mx]
        lines.append(f"max_age: {self.max_age}")
        return "\r\n".join(lines) + "\r\n"

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "max_age": self.max_age, "mx": list(self.mx)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StsPolicy:
        """Rebuild a stored policy; ValueError if ``data`` is not one ``to_dict`` made."""
        try:
            mode = StsMode(data["mode"])
            max_age = data["max_age"]
            mx = data["mx"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored MTA-STS policy: {exc!r}") from None
        if type(max_age) is not int or not 0 <= max_age <= MAX_AGE_LIMIT:
            raise ValueError(f"stored MTA-STS policy has a bad max_age: {max_age!r}")
        if not isinstance(mx, (list, tuple)) or not all(_valid_mx_pattern(p) for p in mx):
            raise ValueError(f"stored MTA-STS policy has bad mx patterns: {mx!r}")
        if mode is not StsMode.NONE and not mx:
            raise ValueError("stored MTA-STS policy has no mx pattern")
        return cls(mode=mode, max_age=max_age, mx=tuple(_normalize(p) for p in mx))


@dataclass(frozen=True, slots=True)
class StsError:
    """Why there is no usable policy, as the RFC 8460 result type to report and a detail.

    ``absent`` is True when the domain publishes no ``v=STSv1`` record at all: it does not
    use MTA-STS, which is not a failure to report.
    """

    failure: TlsFailure
    detail: str
    absent: bool = False


def _invalid(detail: str) -> StsError:
    return StsError(TlsFailure.STS_POLICY_INVALID, detail)


def _is_sts_record(record: str) -> bool:
    return record.startswith(_VERSION) and (
        len(record) == len(_VERSION) or record[len(_VERSION)] in " \t;"
    )


def parse_txt(records: Sequence[str]) -> StsRecord | StsError:
    """The policy id from the TXT records of ``_mta-sts.<domain>`` (RFC 8461 section 3.1)."""
    candidates = [r for r in records if isinstance(r, str) and _is_sts_record(r)]
    if not candidates:
        return StsError(TlsFailure.STS_POLICY_INVALID, "no v=STSv1 TXT record", absent=True)
    if len(candidates) > 1:
        return _invalid(f"{len(candidates)} v=STSv1 TXT records (exactly one is required)")
    fields = _TXT_DELIM.split(candidates[0][len(_VERSION) :])
    # The version must be followed by a delimiter, and one may end the record.
    if fields[0] != "":
        return _invalid("TXT record: no ';' after v=STSv1")
    fields = fields[1:]
    if fields and fields[-1] == "":
        fields.pop()
    policy_id: str | None = None
    extensions: list[tuple[str, str]] = []
    for field in fields:
        if field.startswith("id=") and policy_id is None:  # a repeated id: the first counts
            if not _TXT_ID.fullmatch(field[3:]):
                return _invalid(f"TXT record: bad id {field[3:]!r} (1-32 letters, digits)")
            policy_id = field[3:]
            continue
        if not _TXT_EXT.fullmatch(field):
            return _invalid(f"TXT record: malformed field {field!r}")
        name, _, value = field.partition("=")
        if name != "id":
            extensions.append((name, value))
    if policy_id is None:
        return _invalid("TXT record: no id field")
    return StsRecord(id=policy_id, extensions=tuple(extensions))


def parse_policy(text: str) -> StsPolicy | StsError:
    """A policy from the body of ``/.well-known/mta-sts.txt`` (RFC 8461 section 3.2)."""
    if not isinstance(text, str):
        return _invalid("policy is not text")
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final line terminator
    first: dict[str, str] = {}
    mx: list[str] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.removesuffix("\r")
        if _CONTROL.search(line):
            return _invalid(f"line {number}: control character")
        line = line.rstrip(" \t")
        if not line:
            continue  # blank lines carry nothing
        match = _POLICY_FIELD.fullmatch(line)
        if match is None or not match.group(2):
            return _invalid(f"line {number}: not a 'key: value' field")
        key, value = match.group(1), match.group(2)
        if "\t" in value:
            return _invalid(f"line {number}: tab inside a value")
        if key == "mx":
            if not _valid_mx_pattern(value):
                return _invalid(f"line {number}: bad mx pattern {value!r}")
            pattern = _normalize(value)
            if pattern not in mx:
                mx.append(pattern)
        else:
            first.setdefault(key, value)
    version = first.get("version")
    if version is None:
        return _invalid("no version field")
    if version != "STSv1":
        return _invalid(f"unsupported version {version!r}")
    mode_text = first.get("mode")
    if mode_text is None:
        return _invalid("no mode field")
    if mode_text not in _MODES:
        return _invalid(f"unknown mode {mode_text!r}")
    mode = StsMode(mode_text)
    max_age_text = first.get("max_age")
    if max_age_text is None:
        return _invalid("no max_age field")
    if not _MAX_AGE.fullmatch(max_age_text) or int(max_age_text) > MAX_AGE_LIMIT:
        return _invalid(f"bad max_age {max_age_text!r} (0 to {MAX_AGE_LIMIT} seconds)")
    if mode is not StsMode.NONE and not mx:
        return _invalid(f"mode {mode.value} without an mx field")
    return StsPolicy(mode=mode, max_age=int(max_age_text), mx=tuple(mx))


def _normalize(name: str) -> str:
    name = name.strip().removesuffix(".")
    if name.isascii():
        return name.lower()
    try:  # compare internationalized names as A-labels (RFC 8461 section 4.1)
        return name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return ""


def _valid_domain(name: str) -> bool:
    if not name or len(name) > 253 or not name.isascii():
        return False
    return all(_LABEL.fullmatch(label) for label in name.lower().split("."))


def _valid_mx_pattern(pattern: object) -> bool:
    """``["*."] Domain`` (RFC 8461 section 3.2, Domain per RFC 5321); a trailing dot is let by."""
    if not isinstance(pattern, str):
        return False
    name = pattern.removesuffix(".")
    return _valid_domain(name.removeprefix("*."))


def mx_matches(pattern: str, host: str) -> bool:
    """Whether MX ``host`` matches policy ``pattern`` (RFC 8461 section 4.1).

    ``*.example.com`` matches ``mail.example.com`` but neither ``example.com`` nor
    ``a.b.example.com``.
    """
    if not isinstance(pattern, str) or not isinstance(host, str):
        return False
    wanted, name = _normalize(pattern), _normalize(host)
    if not wanted or not name or "*" in name:
        return False
    if wanted.startswith("*."):
        suffix = wanted[1:]  # ".example.com"
        if len(suffix) < 2 or not name.endswith(suffix):
            return False
        label = name[: -len(suffix)]
        return bool(label) and "." not in label
    return "*" not in wanted and wanted == name
