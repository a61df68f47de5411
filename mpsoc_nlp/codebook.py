"""The codebook: ordered ``TYPE:VALENCE`` codes, label normalisation and multi-hot encoding.

The order of :attr:`Codebook.codes` is the column order of every array, probability table, model
and report in the project (type-major, as the codebook lists them), so a code that is absent from
some data still has its column.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import sys
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CodebookError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["Category", "Codebook", "normalise_label", "EMPTY_LABELS", "NO_CODE"]

SEPARATOR = ":"
#: How an empty set of codes is shown to people (workbooks): a cell that says so, not a blank one.
NO_CODE = "(no code)"
#: Cell values that mean "no community code" (besides an empty cell), :data:`NO_CODE` included.
EMPTY_LABELS = frozenset(
    {"-", "ingen", "ingen kode", "none", "no code", "[]", "ø", NO_CODE, "(ingen kode)", "(ingen)", "(none)"}
)
_SPLIT = re.compile(r"[:/\-_,\s]+")
_FILLER = frozenset(
    {
        "fellesskap",
        "fellesskapet",
        "fellesskaper",
        "fellesskapene",
        "felleskap",
        "fellesskapsfølelse",
        "fellesskapsfolelse",
        "følelse",
        "community",
        "communities",
        "sense",
        "of",
        "soc",
        "psoc",
    }
)
_SUFFIXES = ("ene", "et", "te", "e", "t")
_ALLOWED_TOP = {"name", "version", "language", "description", "types", "valences"}
_ALLOWED_CATEGORY = {"name", "label_no", "label_en", "description", "aliases"}


def normalise_label(text: str) -> str:
    """Lower-case, NFC-normalise and collapse the whitespace of a label."""
    text = unicodedata.normalize("NFC", str(text)).strip().lower()
    return re.sub(r"\s+", " ", text)


def _stem(word: str) -> str:
    """Strip one Norwegian inflection suffix and a doubled final consonant.

    ``relasjonelle``, ``relasjonelt`` and ``relasjonell`` share a stem, as do ``rusrelaterte`` and
    ``rusrelatert``, ``positivt`` and ``positiv``.
    """
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    if len(word) >= 2 and word[-1] == word[-2] and word[-1] not in "aeiouyæøå":
        word = word[:-1]
    return word


def _key(tokens: Sequence[str]) -> str:
    return _stem("".join(tokens))


def _tokens(label: str) -> list[str]:
    return [t for t in _SPLIT.split(normalise_label(label)) if t and t not in _FILLER]


@dataclass(frozen=True)
class Category:
    """A community type or a valence: its code name, labels, description and aliases."""

    name: str
    label_no: str = ""
    label_en: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()

    def match_keys(self) -> set[str]:
        """The normalised stems under which a label matches this category."""
        out = {_key(_tokens(self.name))}
        for text in (self.label_no, self.label_en, *self.aliases):
            tokens = _tokens(text)
            if tokens:
                out.add(_key(tokens))
        return out


@dataclass(frozen=True)
class Codebook:
    """An ordered set of codes ``TYPE:VALENCE`` (or bare ``TYPE`` when it has no valences).

    Examples
    --------
    >>> cb = Codebook.default()
    >>> cb.codes[:2]
    ('geografisk:positiv', 'geografisk:negativ')
    >>> cb.parse("Relasjonelle fellesskap / negativt")
    'relasjonell:negativ'
    >>> cb.parse_codes("rusrelaterte:positive; Geografisk-Negativ")
    ('geografisk:negativ', 'rusrelatert:positiv')
    >>> cb.encode([("ideell:positiv",), ()]).sum(axis=1).tolist()
    [1, 0]
    """

    types: tuple[Category, ...]
    valences: tuple[Category, ...] = ()
    name: str = "custom"
    version: str = "1"
    language: str = "nb"
    description: str = ""
    codes: tuple[str, ...] = field(init=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _type_keys: dict[str, str] = field(init=False, repr=False, compare=False)
    _valence_keys: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.types:
            raise CodebookError("a codebook needs at least one type")
        for group, what in ((self.types, "type"), (self.valences, "valence")):
            names = [c.name for c in group]
            for n in names:
                if not n or SEPARATOR in n or n != normalise_label(n) or " " in n:
                    raise CodebookError(f"{what} name {n!r} must be a non-empty lower-case word without ':' or spaces")
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise CodebookError(f"{what} names occur twice in the codebook: {dupes}")
        if self.valences:
            codes = tuple(f"{t.name}{SEPARATOR}{v.name}" for t in self.types for v in self.valences)
        else:
            codes = tuple(t.name for t in self.types)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "_index", {c: i for i, c in enumerate(codes)})
        object.__setattr__(self, "_type_keys", self._keymap(self.types, "type"))
        object.__setattr__(self, "_valence_keys", self._keymap(self.valences, "valence"))

    @staticmethod
    def _keymap(group: Sequence[Category], what: str) -> dict[str, str]:
        keys: dict[str, str] = {}
        for cat in group:
            for k in cat.match_keys():
                if keys.get(k, cat.name) != cat.name:
                    raise CodebookError(f"the {what}s {keys[k]!r} and {cat.name!r} share the label or alias {k!r}")
                keys[k] = cat.name
        return keys

    # construction -------------------------------------------------------------------------
    @classmethod
    def default(cls) -> Codebook:
        """The MPSOC codebook shipped with the package."""
        text = resources.files("mpsoc_nlp").joinpath("data/mpsoc_codebook.toml").read_text("utf-8")
        return cls.from_dict(tomllib.loads(text), source="the default MPSOC codebook")

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Codebook:
        """Read a codebook from a TOML, YAML or JSON file (see ``docs/codebook.md``)."""
        from .io.sniff import read_small_text

        p = Path(path)
        if not p.is_file():
            raise CodebookError(f"{p}: no such codebook file")
        text = read_small_text(p, what="codebook")
        suffix = p.suffix.lower()
        try:
            if suffix == ".toml":
                data = tomllib.loads(text)
            elif suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            elif suffix == ".json":
                data = json.loads(text)
            else:
                raise CodebookError(f"{p}: a codebook is a .toml, .yaml or .json file, not {suffix!r}")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, ValueError) as exc:
            if isinstance(exc, CodebookError):
                raise
            raise CodebookError(f"{p}: cannot read the codebook: {exc}") from exc
        except Exception as exc:  # yaml.YAMLError does not derive from ValueError
            raise CodebookError(f"{p}: cannot read the codebook: {exc}") from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "codebook") -> Codebook:
        """Build a codebook from its dictionary form (as in a TOML file or ``model.json``)."""
        if not isinstance(data, Mapping):
            raise CodebookError(f"{source}: expected a table with 'types' and 'valences'")
        unknown = sorted(set(data) - _ALLOWED_TOP)
        if unknown:
            raise CodebookError(f"{source}: unknown key(s) {unknown}; allowed are {sorted(_ALLOWED_TOP)}")

        def categories(key: str) -> tuple[Category, ...]:
            items = data.get(key, [])
            if not isinstance(items, list):
                raise CodebookError(f"{source}: '{key}' must be a list of tables")
            out = []
            for i, item in enumerate(items, 1):
                if isinstance(item, str):
                    item = {"name": item}
                if not isinstance(item, Mapping) or "name" not in item:
                    raise CodebookError(f"{source}: {key} entry {i} needs a 'name'")
                bad = sorted(set(item) - _ALLOWED_CATEGORY)
                if bad:
                    raise CodebookError(
                        f"{source}: {key} entry {i} ({item['name']!r}) has unknown key(s) {bad}; "
                        f"allowed are {sorted(_ALLOWED_CATEGORY)}"
                    )
                out.append(
                    Category(
                        name=normalise_label(item["name"]),
                        label_no=str(item.get("label_no", "")),
                        label_en=str(item.get("label_en", "")),
                        description=str(item.get("description", "")),
                        aliases=tuple(str(a) for a in item.get("aliases", ())),
                    )
                )
            return tuple(out)

        try:
            return cls(
                types=categories("types"),
                valences=categories("valences"),
                name=str(data.get("name", "custom")),
                version=str(data.get("version", "1")),
                language=str(data.get("language", "nb")),
                description=str(data.get("description", "")),
            )
        except CodebookError as exc:
            if str(exc).startswith(source):
                raise
            raise CodebookError(f"{source}: {exc}") from exc

    def to_dict(self) -> dict[str, Any]:
        """The dictionary form, as stored in ``model.json``; ``from_dict`` reads it back."""

        def cat(c: Category) -> dict[str, Any]:
            return {
                "name": c.name,
                "label_no": c.label_no,
                "label_en": c.label_en,
                "description": c.description,
                "aliases": list(c.aliases),
            }

        return {
            "name": self.name,
            "version": self.version,
            "language": self.language,
            "description": self.description,
            "types": [cat(t) for t in self.types],
            "valences": [cat(v) for v in self.valences],
        }

    def fingerprint(self) -> str:
        """sha256 of the codes in order: equal for codebooks that encode alike."""
        return hashlib.sha256("\n".join(self.codes).encode("utf-8")).hexdigest()

    # inspection ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Any:
        return iter(self.codes)

    def __contains__(self, code: object) -> bool:
        return code in self._index

    @property
    def type_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.types)

    @property
    def valence_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.valences)

    def index(self, code: str) -> int:
        """Column of ``code`` in every array of this codebook."""
        try:
            return self._index[code]
        except KeyError:
            raise CodebookError(self._unknown_message(code)) from None

    @staticmethod
    def type_of(code: str) -> str:
        """The community type of a code: ``'ideell:positiv'`` -> ``'ideell'``."""
        return code.split(SEPARATOR, 1)[0]

    @staticmethod
    def valence_of(code: str) -> str | None:
        """The valence of a code, or ``None`` in a codebook without valences."""
        parts = code.split(SEPARATOR, 1)
        return parts[1] if len(parts) == 2 else None

    # parsing ------------------------------------------------------------------------------
    def _match(self, tokens: Sequence[str], keys: Mapping[str, str]) -> str | None:
        return keys.get(_key(tokens)) if tokens else None

    def parse(self, label: str) -> str:
        """Normalise one label to its code; raise :class:`CodebookError` naming the nearest code.

        Accepts case and space variants, Norwegian plural and definite forms
        (``Relasjonelle``, ``rusrelaterte fellesskap``, ``bedringsideelt``), English labels and
        aliases, and the separators ``:``, ``/``, ``-``, ``_`` or a space between type and valence.
        """
        tokens = _tokens(label)
        if not tokens:
            raise CodebookError(f"empty label {label!r}")
        if not self.valences:
            found = self._match(tokens, self._type_keys)
            if found is None:
                raise CodebookError(self._unknown_message(label))
            return found
        for k in range(1, len(tokens)):
            for first, second in ((tokens[:k], tokens[k:]), (tokens[k:], tokens[:k])):
                t = self._match(first, self._type_keys)
                v = self._match(second, self._valence_keys)
                if t is not None and v is not None:
                    return f"{t}{SEPARATOR}{v}"
        only_type = self._match(tokens, self._type_keys)
        if only_type is not None:
            raise CodebookError(
                f"label {label!r} names the type {only_type!r} but no valence; write "
                + " or ".join(repr(f"{only_type}{SEPARATOR}{v}") for v in self.valence_names)
            )
        raise CodebookError(self._unknown_message(label))

    def parse_pair(self, type_label: str, valence_label: str | None) -> str:
        """Normalise a code given as two cells, ``community_type`` and ``valence``."""
        if not self.valences:
            return self.parse(type_label)
        if valence_label is None or not str(valence_label).strip():
            return self.parse(type_label)  # raises the "no valence" message
        return self.parse(f"{type_label}{SEPARATOR}{valence_label}")

    def parse_codes(self, value: object) -> tuple[str, ...]:
        """Parse a cell of codes (``;``-separated string, list, or empty) to a sorted tuple.

        Codes are unique and in codebook order; empty, ``-`` or ``ingen`` mean no code.
        """
        if value is None:
            return ()
        if isinstance(value, float) and value != value:  # NaN from pandas
            return ()
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):
                try:
                    parsed = json.loads(text)
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list):
                    return self.parse_codes(parsed)
            parts: Iterable[str] = re.split(r"[;\n|]", text)
        elif isinstance(value, Iterable):
            parts = [str(v) for v in value]
        else:
            parts = [str(value)]
        found = set()
        errors = []
        for part in parts:
            part = part.strip()
            if not part or normalise_label(part) in EMPTY_LABELS:
                continue
            try:
                found.add(self.parse(part))
            except CodebookError as exc:
                errors.append(str(exc))
        if errors:
            raise CodebookError("; ".join(errors))
        return tuple(sorted(found, key=self._index.__getitem__))

    def suggest(self, label: str) -> str | None:
        """The valid code closest to ``label``, or ``None`` when nothing is close."""
        norm = SEPARATOR.join(_tokens(label)) or normalise_label(label)
        if self.valences:
            tokens = _tokens(label)
            for k in range(1, len(tokens)):
                t = self._match(tokens[:k], self._type_keys)
                if t is not None:
                    rest = "".join(tokens[k:])
                    keys = list(self._valence_keys)
                    best = difflib.get_close_matches(_stem(rest), keys, n=1, cutoff=0.5)
                    if best:
                        return f"{t}{SEPARATOR}{self._valence_keys[best[0]]}"
        best = difflib.get_close_matches(norm, self.codes, n=1, cutoff=0.8)
        return best[0] if best else None

    def _unknown_message(self, label: str) -> str:
        hint = self.suggest(label)
        msg = f"unknown code {label!r}."
        if hint:
            return f"{msg} Did you mean {hint!r}?"
        return f"{msg} Valid codes are {', '.join(self.codes)}."

    # encoding -----------------------------------------------------------------------------
    def encode(self, code_sets: Iterable[Iterable[str]]) -> np.ndarray:
        """Multi-hot matrix ``(n_segments, n_codes)`` of ``uint8`` in codebook order."""
        sets = list(code_sets)
        out = np.zeros((len(sets), len(self.codes)), dtype=np.uint8)
        for i, codes in enumerate(sets):
            if isinstance(codes, str):
                codes = self.parse_codes(codes)
            for code in codes:
                out[i, self.index(code)] = 1
        return out

    def decode(
        self, matrix: np.ndarray, threshold: float | Sequence[float] | np.ndarray = 0.5
    ) -> list[tuple[str, ...]]:
        """Code sets from a multi-hot or probability matrix; ``>= threshold`` (per code) is on."""
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[1] != len(self.codes):
            raise CodebookError(f"expected an array with {len(self.codes)} columns (one per code), got shape {m.shape}")
        on = m >= np.asarray(threshold, dtype=float)
        codes = np.asarray(self.codes, dtype=object)
        return [tuple(codes[row]) for row in on]

    @staticmethod
    def members(codes: Iterable[str]) -> dict[str, dict[str, tuple[str, ...]]]:
        """Which codes make up each community type and each valence: the one definition of both.

        ``members(codes)["type"]`` maps each type to its codes, ``["valence"]`` each valence to
        its codes, types and valences in the order of their first code, codes in the given order.
        For a codebook's own codes (``cb.members(cb.codes)``) that order is :attr:`type_names`
        and :attr:`valence_names`; a code without a valence makes up only its type. Any list of
        ``TYPE:VALENCE`` codes works, so agreement on a few codes needs no codebook.

        >>> groups = Codebook.members(["a:positiv", "a:negativ", "b:negativ"])
        >>> groups["type"]
        {'a': ('a:positiv', 'a:negativ'), 'b': ('b:negativ',)}
        >>> groups["valence"]
        {'positiv': ('a:positiv',), 'negativ': ('a:negativ', 'b:negativ')}
        """
        types: dict[str, list[str]] = {}
        valences: dict[str, list[str]] = {}
        for code in codes:
            types.setdefault(Codebook.type_of(code), []).append(code)
            valence = Codebook.valence_of(code)
            if valence is not None:
                valences.setdefault(valence, []).append(code)
        return {
            "type": {name: tuple(group) for name, group in types.items()},
            "valence": {name: tuple(group) for name, group in valences.items()},
        }

    def collapse(self, code_sets: Iterable[Iterable[str]], dimension: str) -> list[tuple[str, ...]]:
        """Map code sets to sets of types (``dimension='type'``) or valences (``'valence'``)."""
        if dimension not in ("type", "valence"):
            raise ValueError("dimension must be 'type' or 'valence'")
        groups = self.members(self.codes)[dimension]
        name_of = {code: name for name, group in groups.items() for code in group}
        rank = {name: i for i, name in enumerate(groups)}
        return [tuple(sorted({name_of[c] for c in s}, key=rank.__getitem__)) for s in code_sets]
