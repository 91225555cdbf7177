"""Masked samples of cell values for findings: enough to recognise the kind, never the value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from dlp_proxy.inspect import validators as v


def mask(kind: str, value: object) -> str:
    """Return a masked sample of ``value`` for findings: never the whole value.

    ``山田 太郎`` -> ``山田 **``, ``090-1234-5678`` -> ``090-****-5678``,
    ``taro@example.jp`` -> ``t***@example.jp``.
    """
    text = v.nfkc(value)
    if not text:
        return ""
    if kind == "birth_date":
        date = v.parse_date(value)
        return f"{date.year}-**-**" if date else "****"
    return _MASKS.get(kind, _mask_default)(text)


def _mask_default(text: str) -> str:
    return text[:2] + "*" * min(max(len(text) - 2, 2), 6)


def _mask_email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    return f"{local[:1]}***@{domain}" if at else _mask_default(text)


def _mask_name(text: str) -> str:
    parts = text.split()
    if len(parts) > 1 and not text.isascii():
        return parts[0] + " " + " ".join("*" * min(len(p), 2) for p in parts[1:])
    if len(parts) > 1:
        return " ".join(p[:1] + "*" * min(len(p) - 1, 4) for p in parts)
    return text[:1] + "*" * min(max(len(text) - 1, 1), 4)


def _mask_postal(text: str) -> str:
    digits = v.digits_only(text.lstrip("〒"))
    return f"{digits[:3]}-****" if len(digits) >= 3 else "***"


def _mask_tail(keep: int) -> Callable[[str], str]:
    def run(text: str) -> str:
        digits = v.digits_only(text)
        return "*" * max(len(digits) - keep, 4) + digits[-keep:] if len(digits) > 8 else "********"

    return run


def _mask_vin(text: str) -> str:
    return text[:3] + "*" * 10 + text[-4:] if len(text) > 8 else "*" * len(text)


def _mask_chassis(text: str) -> str:
    model, dash, serial = text.partition("-")
    return f"{model}-{'*' * max(len(serial) - 3, 1)}{serial[-3:]}" if dash else _mask_default(text)


def _mask_address(text: str) -> str:
    if text.isascii():  # street first, city and state last: keep the last part, no digits
        return "***, " + re.sub(r"\d", "*", text.replace("\n", ", ").rsplit(",", 1)[-1].strip())
    return text[: min(6, max(len(text) // 3, 1))] + "***"


def _mask_plate(text: str) -> str:
    head, serial = text[:-5], text[-5:]
    return head + re.sub(r"\d", "*", serial)


def _mask_phone(text: str) -> str:
    groups = re.split(r"([\s\-()./]+)", text)
    digit_groups = [i for i, g in enumerate(groups) if g.isdigit()]
    if len(digit_groups) >= 3:
        for i in digit_groups[1:-1]:
            groups[i] = "*" * len(groups[i])
        return "".join(groups)
    digits = v.digits_only(text)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}-****-{digits[-4:]}"


_MASKS: Final[dict[str, Callable[[str], str]]] = {
    "email": _mask_email,
    "phone": _mask_phone,
    "person_name": _mask_name,
    "kana_name": _mask_name,
    "postal_code": _mask_postal,
    "address": _mask_address,
    "licence_plate": _mask_plate,
    "my_number": _mask_tail(2),
    "card_number": _mask_tail(4),
    "bank_account": _mask_tail(3),
    "corporate_number": _mask_tail(4),
    "vin": _mask_vin,
    "chassis_number": _mask_chassis,
    "gender": lambda text: "*",
}
