"""OOXML packages (OPC): parts found through [Content_Types].xml and relationships, not paths.

Excel, Word and PowerPoint find a package's main part through the ``officeDocument``
relationship in ``_rels/.rels``, every other part through the relationships of the part that
uses it, and a part's type in ``[Content_Types].xml``. Part names are case-insensitive and
writers differ in the zip names they give them (backslashes, a leading slash, percent-escapes),
so parts are looked up as Office looks them up, never by a fixed path.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote

from lxml import etree

from dlp_proxy.inspect.model import Unscannable

CONTENT_TYPES: Final = "[Content_Types].xml"
PACKAGE_RELS: Final = "_rels/.rels"
# Relationship and parts of this kind are small; a bigger one is not a real package.
_SMALL_PART: Final = 16 << 20
_PARSER: Final = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False, recover=False
)


def normalise(name: str) -> str:
    """The lookup key of a zip member or part name: slashes, no leading slash, lower case."""
    return name.replace("\\", "/").lstrip("/").lower()


@dataclass(frozen=True, slots=True)
class Relationship:
    """One relationship of a part: its type's last segment (``worksheet``), the part it targets
    (a normalised package path) or why it targets none."""

    id: str
    kind: str
    target: str | None
    problem: str | None = None  # external, outside the package, missing


def kind_of(content_type: str) -> str:
    """The document kind a main part's content type names (``xlsx``, ``docx``...)."""
    declared = content_type.strip().lower()
    if "spreadsheetml" in declared or "ms-excel" in declared:
        if ".binary." in declared:
            return "xlsb"
        return "xlsm" if "macroenabled" in declared else "xlsx"
    if "wordprocessingml" in declared or "ms-word" in declared:
        return "docx"
    if "presentationml" in declared or "ms-powerpoint" in declared:
        return "pptx"
    return "ooxml"


class Package:
    """The parts of one OOXML zip, looked up as Office looks them up."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self._members: dict[str, list[zipfile.ZipInfo]] = {}
        for info in archive.infolist():
            if info.filename.endswith(("/", "\\")):
                continue
            key = normalise(info.filename)
            self._members.setdefault(key, []).append(info)
            decoded = normalise(unquote(info.filename))
            if decoded != key:
                self._members.setdefault(decoded, []).append(info)
        self._types: tuple[dict[str, str], dict[str, str]] | None = None

    def names(self) -> Iterator[str]:
        """Every part's normalised name, once."""
        seen: set[int] = set()
        for key, infos in self._members.items():
            if id(infos[0]) not in seen:
                seen.add(id(infos[0]))
                yield key

    def info(self, name: str) -> zipfile.ZipInfo | None:
        """The zip member holding part ``name``; Unscannable("ambiguous") when two do."""
        found = self._members.get(normalise(name))
        if not found:
            return None
        if len({id(info) for info in found}) > 1:
            raise Unscannable("ambiguous", f"two zip members hold the part {normalise(name)}")
        return found[0]

    def has(self, name: str) -> bool:
        return normalise(name) in self._members

    def read(self, name: str, *, limit: int = _SMALL_PART) -> bytes:
        """A part's bytes (up to ``limit``, else Unscannable("limit")); b"" when it is absent."""
        info = self.info(name)
        if info is None:
            return b""
        if info.file_size > limit:
            raise Unscannable("limit", f"part {normalise(name)} declares {info.file_size:,} bytes")
        if info.flag_bits & 0x1:
            raise Unscannable("encrypted", f"part {normalise(name)} is an encrypted zip member")
        try:
            with self.archive.open(info) as stream:
                data = stream.read(limit + 1)
        except NotImplementedError as exc:
            raise Unscannable("unsupported", f"part {normalise(name)}: {exc}") from None
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise Unscannable("corrupt", f"part {normalise(name)} unreadable ({exc})") from None
        if len(data) > limit:
            raise Unscannable("limit", f"part {normalise(name)} expands past {limit:,} bytes")
        return data

    def content_type(self, name: str) -> str | None:
        """A part's content type: its Override, else the Default for its extension."""
        overrides, defaults = self._content_types()
        key = normalise(name)
        if key in overrides:
            return overrides[key]
        extension = key.rsplit(".", 1)[-1] if "." in key.rsplit("/", 1)[-1] else ""
        return defaults.get(extension)

    def _content_types(self) -> tuple[dict[str, str], dict[str, str]]:
        if self._types is None:
            root = parse(self.read(CONTENT_TYPES), CONTENT_TYPES)
            overrides: dict[str, str] = {}
            defaults: dict[str, str] = {}
            for element in root.iter():
                local = local_name(element)
                if local == "Override":
                    part, declared = element.get("PartName"), element.get("ContentType")
                    if part and declared:
                        overrides[normalise(unquote(part))] = declared
                elif local == "Default":
                    extension, declared = element.get("Extension"), element.get("ContentType")
                    if extension and declared:
                        defaults[extension.lower()] = declared
            self._types = (overrides, defaults)
        return self._types

    def relationships(self, source: str | None) -> list[Relationship]:
        """The relationships of part ``source`` (None: of the package itself), targets resolved."""
        rels = PACKAGE_RELS if source is None else rels_name(source)
        base = "" if source is None else posixpath.dirname(normalise(source))
        if not self.has(rels):
            return []
        found = []
        for element in parse(self.read(rels), normalise(rels)).iter():
            if local_name(element) != "Relationship":
                continue
            kind = (element.get("Type") or "").rstrip("/").rsplit("/", 1)[-1]
            found.append(self._resolve(element, kind, base))
        return found

    def _resolve(self, element: etree._Element, kind: str, base: str) -> Relationship:
        identifier = element.get("Id") or ""
        raw = (element.get("Target") or "").strip()
        if (element.get("TargetMode") or "").lower() == "external" or "://" in raw:
            return Relationship(identifier, kind, None, "targets a file outside the package")
        target = unquote(raw).replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        path = posixpath.normpath(path) if path else ""
        if not path or path == "." or path.startswith("../") or path == "..":
            return Relationship(identifier, kind, None, "targets a path outside the package")
        key = normalise(path)
        if not self.has(key):
            return Relationship(identifier, kind, None, f"targets {key}, which is missing")
        return Relationship(identifier, kind, key)

    def main_part(self) -> str:
        """The package's main part (the ``officeDocument`` target), or Unscannable: none,
        two of them, or one that points outside the package or to nothing."""
        if not self.has(PACKAGE_RELS):
            raise Unscannable("corrupt", "package without _rels/.rels: no main part")
        mains = [r for r in self.relationships(None) if r.kind == "officeDocument"]
        if not mains:
            raise Unscannable("corrupt", "package without a main part (officeDocument)")
        targets = {r.target or r.problem for r in mains}
        if len(targets) > 1:
            raise Unscannable("ambiguous", f"package declares {len(targets)} main parts")
        main = mains[0]
        if main.target is None:
            raise Unscannable("corrupt", f"the main part {main.problem}")
        return main.target


def is_office_package(archive: zipfile.ZipFile) -> bool:
    """Whether an OPC package (it has [Content_Types].xml) is an Office document: it has no
    ``_rels/.rels`` (a damaged one), or that declares an ``officeDocument``. Other packages
    (NuGet, XPS, 3MF) are zips to whoever opens them."""
    package = Package(archive)
    if not package.has(PACKAGE_RELS):
        return True
    try:
        return any(r.kind == "officeDocument" for r in package.relationships(None))
    except Unscannable:
        return True  # unreadable relationships: reported when the package is opened


def open_package(archive: zipfile.ZipFile) -> tuple[Package, str, str]:
    """The package, its main part and that part's kind (``xlsx``, ``docx``, ... ``ooxml``)."""
    package = Package(archive)
    main = package.main_part()
    declared = package.content_type(main)
    if declared is None:
        raise Unscannable("corrupt", f"no content type declared for the main part {main}")
    return package, main, kind_of(declared)


def rels_name(part: str) -> str:
    """Where the relationships of ``part`` live: ``xl/_rels/workbook.xml.rels``."""
    folder, name = posixpath.split(normalise(part))
    return posixpath.join(folder, "_rels", f"{name}.rels")


def parse(data: bytes, name: str) -> etree._Element:
    """Parse one small XML part; Unscannable("corrupt") when it is not well-formed XML."""
    if not data.strip():
        raise Unscannable("corrupt", f"part {name} is empty")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise Unscannable("corrupt", f"part {name} is not well-formed XML ({exc.msg})") from None


def local_name(element: etree._Element) -> str:
    """The tag of an element without its namespace ("" for comments)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""  # a comment or processing instruction
    return tag.rsplit("}", 1)[-1]
