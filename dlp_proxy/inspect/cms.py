"""Open CMS (S/MIME, PKCS #7) with asn1crypto: the content anyone can read, or why not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from asn1crypto import cms, pem

from dlp_proxy.inspect.archives import Budget, decompress
from dlp_proxy.inspect.model import Unscannable

# Structures whose content is in the clear (a signature, a digest or a MAC only vouch for it).
_CLEAR = frozenset({"signed_data", "digested_data", "authenticated_data"})
_ENCRYPTED = {
    "enveloped_data": "S/MIME encrypted (enveloped-data)",
    "authenticated_enveloped_data": "S/MIME encrypted (authenticated-enveloped-data)",
    "signed_and_enveloped_data": "PKCS #7 signed and encrypted (signed-and-enveloped-data)",
    "encrypted_data": "CMS encrypted with a shared key (encrypted-data)",
}


@dataclass(frozen=True, slots=True)
class Content:
    """What a CMS structure carries: ``content`` for anyone to read (signed, digested,
    authenticated or compressed data; None for a detached signature or a certificate bag)."""

    kind: Literal["signed", "compressed", "data", "detached"]
    content: bytes | None


def read_cms(data: bytes, budget: Budget) -> Content:
    """The readable content of a DER, BER or PEM-armoured CMS ContentInfo.

    Raises Unscannable: *encrypted* for enveloped, authenticated-enveloped and encrypted data,
    *corrupt* for a structure asn1crypto cannot read, *unsupported* for other content types.
    """
    der = _unarmored(data)
    try:
        info = cms.ContentInfo.load(der)
        content_type = info["content_type"].native
        if content_type in _ENCRYPTED:
            raise Unscannable("encrypted", _ENCRYPTED[content_type])
        if content_type == "data":
            return Content("data", bytes(info["content"]))
        if content_type == "compressed_data":
            return _compressed(info["content"], budget)
        if content_type not in _CLEAR:
            raise Unscannable("unsupported", f"CMS content of type {content_type}")
        encapsulated = info["content"]["encap_content_info"]
        inner_type = encapsulated["content_type"].native
        inner = encapsulated["content"]
        if inner.native is None:
            return Content("detached", None)
        if inner_type != "data":
            raise Unscannable("unsupported", f"CMS signed content of type {inner_type}")
        return Content("signed", bytes(inner))
    except Unscannable:
        raise
    except MemoryError:
        raise Unscannable("limit", "CMS structure too large to read") from None
    except Exception as exc:  # asn1crypto parses lazily: any access may meet bad encoding
        raise Unscannable("corrupt", f"CMS structure unreadable ({type(exc).__name__})") from None


def _unarmored(data: bytes) -> bytes:
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"-----BEGIN"):
        return data  # DER or BER (pem.detect would also look for armour inside the content)
    try:
        _name, _headers, der = pem.unarmor(text)
    except Exception as exc:
        raise Unscannable("corrupt", f"PEM armour unreadable ({type(exc).__name__})") from None
    return bytes(der)


def _compressed(compressed: cms.CompressedData, budget: Budget) -> Content:
    """RFC 3274 compressed-data: zlib, expanded under the budget like any stream."""
    algorithm = compressed["compression_algorithm"]["algorithm"].native
    if algorithm != "zlib":
        raise Unscannable("unsupported", f"CMS compression algorithm {algorithm}")
    inner = compressed["encap_content_info"]["content"]
    if inner.native is None:
        raise Unscannable("corrupt", "CMS compressed-data without content")
    return Content("compressed", decompress(bytes(inner), "zlib", budget))
