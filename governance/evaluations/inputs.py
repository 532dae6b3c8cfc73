"""Parse and validate evaluation inputs (inline JSON or CSV/Parquet tables) into numpy arrays.

Pure Python/numpy/pyarrow: no Django imports. Every bad input raises
``ValidationFailed(message, field=<dotted field>)``. See docs/evaluations.md for the formats,
the canonical encoding behind :func:`input_sha256` and the full list of messages.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, NoReturn, overload

import numpy as np

from governance.common.errors import ValidationFailed

KINDS = ("fairness", "drift", "performance")
DIGEST_PREFIX = b"mlgov.evaluations.input.v1\x00"
NUMERIC = "numeric"
CATEGORICAL = "categorical"


@dataclass
class Parsed:
    """Validated inputs.

    ``arrays`` maps canonical field names to 1-D arrays (float64, int64 or numpy unicode):
    fairness: ``y_true``, ``y_pred`` or ``y_score``, ``sensitive_features.<name>``, ``sample_weight``;
    performance: ``y_true``, ``y_score``; drift: ``reference.<feature>``, ``current.<feature>``.
    ``derived`` holds values computed from the inputs (fairness ``y_pred`` from ``y_score``).
    """

    kind: str
    arrays: dict[str, np.ndarray]
    params: dict[str, Any] = field(default_factory=dict)
    feature_types: dict[str, str] = field(default_factory=dict)
    declared_categorical: tuple[str, ...] = ()
    derived: dict[str, np.ndarray] = field(default_factory=dict)

    # -- convenience accessors -------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return int(len(next(iter(self.arrays.values())))) if self.arrays else 0

    @property
    def y_pred(self) -> np.ndarray:
        if "y_pred" in self.arrays:
            return self.arrays["y_pred"]
        return self.derived["y_pred"]

    @property
    def sensitive_features(self) -> dict[str, np.ndarray]:
        p = "sensitive_features."
        return {k[len(p) :]: v for k, v in sorted(self.arrays.items()) if k.startswith(p)}

    def sample(self, side: str) -> dict[str, np.ndarray]:
        p = side + "."
        return {k[len(p) :]: v for k, v in sorted(self.arrays.items()) if k.startswith(p)}

    @property
    def has_reference(self) -> bool:
        return any(k.startswith("reference.") for k in self.arrays)

    @property
    def has_current(self) -> bool:
        return any(k.startswith("current.") for k in self.arrays)


# ---------------------------------------------------------------------------------------------
# element classification and conversion
# ---------------------------------------------------------------------------------------------


def _fail(field_name: str, message: str) -> NoReturn:
    raise ValidationFailed(f"{field_name}: {message}", field=field_name)


def _classify(values: Any, fname: str) -> tuple[str, np.ndarray | list[Any] | tuple[Any, ...]]:
    """Return (kind, values) with kind in bool|int|float|str for a list or 1-D array."""
    if isinstance(values, np.ndarray):
        if values.ndim != 1:
            _fail(fname, "must be a one-dimensional list")
        k = values.dtype.kind
        if k == "b":
            return "bool", values
        if k in "iu":
            return "int", values
        if k == "f":
            return "float", values
        if k == "U":
            return "str", values
        if k == "O":
            values = values.tolist()
        else:
            _fail(fname, f"unsupported array dtype {values.dtype}")
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        _fail(fname, f"must be a list, got {type(values).__name__}")
    kinds = set()
    for t in set(map(type, values)):
        if t is bool or issubclass(t, np.bool_):
            kinds.add("bool")
        elif issubclass(t, (int, np.integer)):
            kinds.add("int")
        elif issubclass(t, (float, np.floating)):
            kinds.add("float")
        elif issubclass(t, str):
            kinds.add("str")
        elif t is type(None):
            _fail(fname, "contains a missing value (null)")
        else:
            _fail(fname, f"values must be numbers or strings, got {t.__name__}")
    if not kinds:
        _fail(fname, "must not be empty")
    if "str" in kinds and len(kinds) > 1:
        _fail(fname, "mixes strings and numbers")
    if kinds == {"str"}:
        return "str", values
    if kinds == {"bool"}:
        return "bool", values
    if "float" in kinds:
        return "float", values
    return "int", values


def _nonempty(n: int, fname: str) -> None:
    if n == 0:
        _fail(fname, "must not be empty")


def _to_float(kind: str, values: Any, fname: str) -> np.ndarray:
    if kind == "str":
        _fail(fname, "must contain numbers, got strings")
    if isinstance(values, np.ndarray):
        a = values.astype(np.float64, copy=False)
    else:
        try:
            a = np.asarray(values, dtype=np.float64)
        except OverflowError:  # pragma: no cover - huge python ints
            _fail(fname, "number out of range")
    _nonempty(a.size, fname)
    if kind == "float" and not np.isfinite(a).all():
        bad = int(np.flatnonzero(~np.isfinite(a))[0])
        _fail(fname, f"contains NaN or infinite value at index {bad}")
    return a


def as_labels(values: Any, fname: str) -> np.ndarray:
    """Binary labels: bools, or 0/1 ints/floats -> int64 0/1."""
    kind, values = _classify(values, fname)
    if kind == "str":
        _fail(fname, "labels must be 0/1 or booleans, got strings")
    if kind == "bool":
        a = np.asarray(values, dtype=bool)
        _nonempty(a.size, fname)
        return a.astype(np.int64)
    if kind == "int":
        a = np.asarray(values)
        if a.dtype.kind not in "iu":
            a = a.astype(np.int64)
        _nonempty(a.size, fname)
        # one reduction: negative int64 values are huge when viewed as uint64
        if a.dtype != np.int64:
            a = a.astype(np.int64)
        if a.view(np.uint64).max() > 1:
            _fail(fname, "labels must be binary 0/1 (found values other than 0 and 1)")
        return a.astype(np.int64, copy=False)
    a = _to_float(kind, values, fname)
    ok = (a == 0.0) | (a == 1.0)
    if not ok.all():
        _fail(fname, "labels must be binary 0/1 (found values other than 0 and 1)")
    return a.astype(np.int64)


def as_scores(values: Any, fname: str) -> np.ndarray:
    kind, values = _classify(values, fname)
    if kind == "bool":
        values = np.asarray(values, dtype=np.float64)
        kind = "float"
    a = _to_float(kind, values, fname)
    if a.min() < 0.0 or a.max() > 1.0:
        _fail(fname, "scores must be probabilities in [0, 1]")
    return a


def as_weights(values: Any, fname: str) -> np.ndarray:
    kind, values = _classify(values, fname)
    if kind == "bool":
        _fail(fname, "weights must be numbers, got booleans")
    a = _to_float(kind, values, fname)
    if a.min() < 0.0:
        _fail(fname, "weights must be non-negative")
    if not a.sum() > 0.0:
        _fail(fname, "weights must have a positive sum")
    return a


def _to_str_array(values: Any, fname: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        a = values
    else:
        a = np.asarray(values, dtype=str)
    _nonempty(a.size, fname)
    if any("\x00" in s for s in (values if isinstance(values, list) else a.tolist())):
        _fail(fname, "strings must not contain NUL characters")
    return a


def _bools_to_str(values: Any) -> np.ndarray:
    return np.where(np.asarray(values, dtype=bool), "true", "false")


def as_group_values(values: Any, fname: str) -> np.ndarray:
    """Sensitive-feature values: strings, booleans (-> 'true'/'false') or integers -> int64/unicode."""
    kind, values = _classify(values, fname)
    if kind == "str":
        return _to_str_array(values, fname)
    if kind == "bool":
        return _to_str_array(_bools_to_str(values), fname)
    if kind == "int":
        a = np.asarray(values)
        _nonempty(a.size, fname)
        return a.astype(np.int64, copy=False)
    a = _to_float(kind, values, fname)
    if not (a == np.round(a)).all():
        _fail(fname, "sensitive feature values must be strings, booleans or integers (bin continuous values first)")
    return a.astype(np.int64)


def as_feature(values: Any, fname: str, categorical: bool) -> tuple[str, np.ndarray]:
    """Drift feature -> (type, array): numeric float64, categorical int64 or unicode."""
    kind, values = _classify(values, fname)
    if kind == "str":
        return CATEGORICAL, _to_str_array(values, fname)
    if kind == "bool":
        return CATEGORICAL, _to_str_array(_bools_to_str(values), fname)
    if categorical:
        if kind == "int":
            a = np.asarray(values)
            _nonempty(a.size, fname)
            return CATEGORICAL, a.astype(np.int64, copy=False)
        a = _to_float(kind, values, fname)
        if not (a == np.round(a)).all():
            _fail(fname, "column is declared categorical but contains non-integer numbers")
        return CATEGORICAL, a.astype(np.int64)
    return NUMERIC, _to_float(kind, values, fname)


# ---------------------------------------------------------------------------------------------
# params
# ---------------------------------------------------------------------------------------------


def threshold_param(params: Mapping[str, Any]) -> float:
    """The classification threshold in ``params`` (default 0.5), or ValidationFailed on ``params.threshold``."""
    t = params.get("threshold", 0.5)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= 1:
        _fail("params.threshold", "must be a number in [0, 1]")
    return float(t)


def _name_list(value: Any, fname: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        _fail(fname, "must be a list of column/feature names (strings)")
    if len(set(value)) != len(value):
        _fail(fname, "contains duplicate names")
    return list(value)


def _check_params(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        _fail("params", "must be an object")
    return dict(params)


# ---------------------------------------------------------------------------------------------
# inline
# ---------------------------------------------------------------------------------------------


def _check_keys(data: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    for k in data:
        if k not in allowed:
            _fail(f"{prefix}{k}", f"unknown field (expected one of: {', '.join(sorted(allowed))})")


def _require(data: Mapping[str, Any], key: str, prefix: str) -> Any:
    if key not in data:
        _fail(f"{prefix}{key}", "is required")
    return data[key]


def _build_labelled(
    kind: str, fields: dict[str, Any], params: dict[str, Any], prefix: str, sensitive_prefix: str
) -> Parsed:
    """Shared by inline and table parsing for fairness/performance.

    ``fields`` maps logical names (y_true, y_pred, y_score, sample_weight, and
    ``sensitive_features.<name>``) to (raw values, error field name).
    """
    arrays: dict[str, np.ndarray] = {}
    yt_raw, yt_field = fields["y_true"]
    arrays["y_true"] = as_labels(yt_raw, yt_field)
    if kind == "performance":
        ys_raw, ys_field = fields["y_score"]
        arrays["y_score"] = as_scores(ys_raw, ys_field)
    else:
        if "y_pred" in fields:
            raw, f = fields["y_pred"]
            arrays["y_pred"] = as_labels(raw, f)
        else:
            raw, f = fields["y_score"]
            arrays["y_score"] = as_scores(raw, f)
        if "sample_weight" in fields:
            raw, f = fields["sample_weight"]
            arrays["sample_weight"] = as_weights(raw, f)
        for key, (raw, f) in fields.items():
            if key.startswith("sensitive_features."):
                arrays[key] = as_group_values(raw, f)
    n = len(arrays["y_true"])
    for key, a in arrays.items():
        if len(a) != n:
            f = fields[key][1]
            _fail(f, f"length {len(a)} differs from {fields['y_true'][1]} ({n})")
    used: dict[str, Any] = {}
    derived: dict[str, np.ndarray] = {}
    if kind == "fairness" and "y_score" in arrays:
        thr = threshold_param(params)
        used["threshold"] = thr
        derived["y_pred"] = (arrays["y_score"] >= thr).astype(np.int64)
    elif kind == "performance":
        used["threshold"] = threshold_param(params)
    return Parsed(kind=kind, arrays=arrays, params=used, derived=derived)


def parse_inline(
    kind: str, data: dict[str, Any], *, params: dict[str, Any] | None = None, reference: Parsed | None = None
) -> Parsed:
    """Validate an inline JSON payload (see docs/evaluations.md for the shapes)."""
    if kind not in KINDS:
        _fail("kind", f"unknown evaluation kind {kind!r} (expected one of: {', '.join(KINDS)})")
    params = _check_params(params)
    if not isinstance(data, Mapping):
        _fail("data", "must be an object")
    if kind == "drift":
        return _parse_inline_drift(data, params, reference)
    if reference is not None:
        _fail("reference", "a reference sample is only used by drift evaluations")
    if kind == "performance":
        _check_keys(data, {"y_true", "y_score"}, "data.")
        fields = {k: (_require(data, k, "data."), f"data.{k}") for k in ("y_true", "y_score")}
        return _build_labelled(kind, fields, params, "data.", "")
    _check_keys(data, {"y_true", "y_pred", "y_score", "sensitive_features", "sample_weight"}, "data.")
    fields = {"y_true": (_require(data, "y_true", "data."), "data.y_true")}
    if "y_pred" in data and "y_score" in data:
        _fail("data.y_score", "give either y_pred or y_score (with params.threshold), not both")
    if "y_pred" in data:
        fields["y_pred"] = (data["y_pred"], "data.y_pred")
    elif "y_score" in data:
        fields["y_score"] = (data["y_score"], "data.y_score")
    else:
        _fail("data.y_pred", "is required (or give y_score and params.threshold)")
    if "sample_weight" in data and data["sample_weight"] is not None:
        fields["sample_weight"] = (data["sample_weight"], "data.sample_weight")
    sf = _require(data, "sensitive_features", "data.")
    if not isinstance(sf, Mapping):
        _fail("data.sensitive_features", "must be an object mapping feature name to a list of values")
    if not sf:
        _fail("data.sensitive_features", "must name at least one sensitive feature")
    for name, values in sf.items():
        if not isinstance(name, str) or not name:
            _fail("data.sensitive_features", "feature names must be non-empty strings")
        fields[f"sensitive_features.{name}"] = (values, f"data.sensitive_features.{name}")
    return _build_labelled(kind, fields, params, "data.", "data.sensitive_features.")


def _parse_side(
    sample: Any, side: str, declared: set[str], prefix: str
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    fname = f"{prefix}{side}"
    if not isinstance(sample, Mapping):
        _fail(fname, "must be an object mapping feature name to a list of values")
    if not sample:
        _fail(fname, "must contain at least one feature")
    arrays: dict[str, np.ndarray] = {}
    types: dict[str, str] = {}
    n0: tuple[int, str] | None = None
    for name, values in sample.items():
        if not isinstance(name, str) or not name:
            _fail(fname, "feature names must be non-empty strings")
        f = f"{fname}.{name}"
        t, a = as_feature(values, f, name in declared)
        if n0 is None:
            n0 = (len(a), name)
        elif len(a) != n0[0]:
            _fail(f, f"length {len(a)} differs from {fname}.{n0[1]} ({n0[0]})")
        arrays[f"{side}.{name}"] = a
        types[name] = t
    return arrays, types


def _merge_drift(
    side_arrays: dict[str, tuple[dict[str, np.ndarray], dict[str, str], str]],
    declared: tuple[str, ...],
    params: dict[str, Any],
) -> Parsed:
    """side_arrays: side -> (arrays, types, field prefix for errors)."""
    arrays: dict[str, np.ndarray] = {}
    for a, _t, _p in side_arrays.values():
        arrays.update(a)
    types: dict[str, str] = {}
    if "reference" in side_arrays and "current" in side_arrays:
        ra, rt, rp = side_arrays["reference"]
        ca, ct, cp = side_arrays["current"]
        for name in ct:
            if name not in rt:
                _fail(
                    f"{cp}.{name}" if cp.startswith("data") else cp,
                    f"feature {name!r} is in the current sample but not in the reference",
                )
        for name in rt:
            if name not in ct:
                _fail(
                    f"{cp}.{name}" if cp.startswith("data") else cp,
                    f"feature {name!r} is in the reference but missing from the current sample",
                )
        for name in rt:
            if rt[name] != ct[name]:
                f = f"{cp}.{name}" if cp.startswith("data") else cp
                _fail(
                    f,
                    f"feature {name!r} is {rt[name]} in the reference but {ct[name]} in the current "
                    f"sample ({rt[name]} column posted as {ct[name]})",
                )
            # categorical codes must be comparable: ints vs strings
            rk, ck = arrays[f"reference.{name}"].dtype.kind, arrays[f"current.{name}"].dtype.kind
            if rt[name] == CATEGORICAL and rk != ck:
                f = f"{cp}.{name}" if cp.startswith("data") else cp
                _fail(
                    f,
                    f"feature {name!r} has {'strings' if rk == 'U' else 'integers'} in the reference "
                    f"but {'strings' if ck == 'U' else 'integers'} in the current sample",
                )
        types = dict(rt)
    else:
        for _a, t, _p in side_arrays.values():
            types.update(t)
    used = {"categorical": sorted(n for n, t in types.items() if t == CATEGORICAL)}
    return Parsed(
        kind="drift", arrays=arrays, params=used, feature_types=types, declared_categorical=tuple(sorted(declared))
    )


def _reference_side(reference: Parsed) -> tuple[dict[str, np.ndarray], dict[str, str], str]:
    if not isinstance(reference, Parsed) or reference.kind != "drift" or not reference.has_reference:
        _fail("reference", "must be a parsed drift reference sample (parse it with role='reference')")
    a = {k: v for k, v in reference.arrays.items() if k.startswith("reference.")}
    t = {k[len("reference.") :]: reference.feature_types[k[len("reference.") :]] for k in a}
    return a, t, "reference"


def _parse_inline_drift(data: Mapping[str, Any], params: dict[str, Any], reference: Parsed | None) -> Parsed:
    _check_keys(data, {"reference", "current"}, "data.")
    declared = set(_name_list(params.get("categorical"), "params.categorical"))
    if reference is not None:
        declared |= set(reference.declared_categorical)
    sides: dict[str, tuple[dict[str, np.ndarray], dict[str, str], str]] = {}
    if "reference" in data:
        if reference is not None:
            _fail("data.reference", "reference given both inline and as a separate sample")
        a, t = _parse_side(data["reference"], "reference", declared, "data.")
        sides["reference"] = (a, t, "data.reference")
    elif reference is not None:
        sides["reference"] = _reference_side(reference)
    if "current" in data:
        a, t = _parse_side(data["current"], "current", declared, "data.")
        sides["current"] = (a, t, "data.current")
    if not sides:
        _fail("data.current", "is required")
    known = set().union(*(t for _a, t, _p in sides.values()))
    for name in sorted(set(_name_list(params.get("categorical"), "params.categorical")) - known):
        _fail("params.categorical", f"feature {name!r} declared categorical is not in the data")
    return _merge_drift(sides, tuple(declared), params)


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------


# Compressions accepted for CSV (detected by their magic bytes, whatever the file name says).
# Parquet files compress inside (snappy, gzip, zstd, lz4, brotli): their metadata gives the row
# count and the uncompressed size before any data is read.
CSV_COMPRESSIONS = ("none", "gzip")
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
_READ_CHUNK = 1 << 20


@dataclass
class TableSize:
    """What a table will cost to read, measured without reading it whole.

    Parquet: ``rows`` and ``decompressed_bytes`` from the file's metadata. CSV: the decompressed
    stream is read up to the budget; ``within_budget`` says whether it ended before it, and then
    ``data`` holds the decompressed bytes (parse those, not the file again) and ``decompressed_bytes``
    their length; ``rows`` is None (known once parsed)."""

    file_format: str
    compression: str
    rows: int | None
    decompressed_bytes: int | None
    within_budget: bool
    data: bytes | None = None


def _open_binary(path_or_bytes: Any) -> IO[bytes]:
    import io

    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(path_or_bytes))
    if isinstance(path_or_bytes, (str, Path)):
        try:
            return open(path_or_bytes, "rb")
        except OSError as exc:
            _fail("file", f"could not open the input: {exc.strerror or exc}")
    if hasattr(path_or_bytes, "read"):
        stream: IO[bytes] = path_or_bytes
        return stream
    _fail("file", "must be a path, bytes or a binary file object")


def csv_compression(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


class _BudgetReader:
    """A binary stream over the decompressed CSV that refuses to yield more than ``budget`` bytes."""

    def __init__(self, raw: IO[bytes], budget: int | None) -> None:
        import gzip

        head = raw.read(8)
        self.compression = csv_compression(head)
        if self.compression not in CSV_COMPRESSIONS:
            _fail(
                "file",
                f"{self.compression}-compressed CSV is not accepted (accepted: uncompressed or gzip CSV, "
                "or Parquet with its own compression)",
            )
        raw.seek(raw.tell() - len(head))
        self.raw = raw
        self.stream: IO[bytes] | gzip.GzipFile = (
            gzip.GzipFile(fileobj=raw, mode="rb") if self.compression == "gzip" else raw
        )
        self.budget = budget
        self.count = 0
        self.exceeded = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = _READ_CHUNK
        if self.budget is not None:
            size = min(size, self.budget + 1 - self.count)
            if size <= 0:
                self.exceeded = True
                raise InputTooLarge(self.budget)
        try:
            data = self.stream.read(size)
        except (OSError, EOFError) as exc:
            _fail("file", f"could not decompress the {self.compression} CSV: {exc}")
        self.count += len(data)
        if self.budget is not None and self.count > self.budget:
            self.exceeded = True
            raise InputTooLarge(self.budget)
        return data

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while chunk := self.read(_READ_CHUNK):
            parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        self.closed = True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.count


class InputTooLarge(Exception):
    """Raised by the budget reader; turned into a PayloadTooLarge naming the setting by the caller."""

    def __init__(self, budget: int) -> None:
        super().__init__(budget)
        self.budget = budget


def _too_large(detail: str, setting: str) -> NoReturn:
    from governance.common.errors import PayloadTooLarge

    raise PayloadTooLarge(
        f"file: {detail} (setting {setting}); split the input or ask an operator to raise the limit",
        field="file",
    )


def table_size(path_or_bytes: Any, file_format: str, *, budget: int) -> TableSize:
    """Measure a table before reading it: Parquet metadata, or the CSV stream read up to ``budget``
    decompressed bytes (never more)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if file_format not in ("csv", "parquet"):
        _fail("file_format", "must be 'csv' or 'parquet'")
    raw = _open_binary(path_or_bytes)
    try:
        if file_format == "parquet":
            try:
                meta = pq.ParquetFile(raw).metadata
            except (pa.ArrowException, OSError, ValueError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                _fail("file", f"could not read PARQUET: {msg}")
            nbytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            codecs = sorted(
                {
                    meta.row_group(i).column(j).compression
                    for i in range(meta.num_row_groups)
                    for j in range(meta.num_columns)
                }
            )
            return TableSize("parquet", "+".join(codecs) or "none", int(meta.num_rows), int(nbytes), nbytes <= budget)
        reader = _BudgetReader(raw, budget)
        try:
            data = reader.readall()
        except InputTooLarge:
            return TableSize("csv", reader.compression, None, None, False)
        return TableSize("csv", reader.compression, None, len(data), True, data)
    finally:
        if not isinstance(path_or_bytes, (bytes, bytearray, memoryview)) and not hasattr(path_or_bytes, "read"):
            raw.close()


def check_table_limits(
    size: TableSize,
    *,
    max_rows: int | None,
    max_bytes: int | None,
    names: tuple[str, str] = ("EVALUATION_MAX_ROWS", "EVALUATION_MAX_DECOMPRESSED_BYTES"),
) -> None:
    """Refuse (413, field ``file``) a table whose metadata already says it is over the limits; ``names``
    are the settings the message names."""
    if max_rows is not None and size.rows is not None and size.rows > max_rows:
        _too_large(f"the table has {size.rows} rows, more than the limit of {max_rows}", names[0])
    if max_bytes is not None and size.decompressed_bytes is not None and size.decompressed_bytes > max_bytes:
        _too_large(
            f"the table decompresses to {size.decompressed_bytes} bytes, more than the limit of {max_bytes}",
            names[1],
        )


def _read_table(
    path_or_bytes: Any, file_format: str, *, max_rows: int | None = None, max_bytes: int | None = None
) -> Any:
    """Read a whole table, within the limits: a Parquet file's metadata is checked before its data
    is read; a CSV stream is decompressed (gzip only) with a byte budget of ``max_bytes``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if file_format not in ("csv", "parquet"):
        _fail("file_format", "must be 'csv' or 'parquet'")
    raw = _open_binary(path_or_bytes)
    reader = None
    try:
        if file_format == "csv":
            reader = _BudgetReader(raw, max_bytes)
            table = pacsv.read_csv(reader)
        else:
            pf = pq.ParquetFile(raw)
            meta = pf.metadata
            nbytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
            check_table_limits(
                TableSize("parquet", "", int(meta.num_rows), int(nbytes), True), max_rows=max_rows, max_bytes=max_bytes
            )
            table = pf.read()
    except InputTooLarge as exc:
        _too_large(f"the CSV decompresses to more than {exc.budget} bytes", "EVALUATION_MAX_DECOMPRESSED_BYTES")
    except (pa.ArrowException, OSError, ValueError) as exc:
        if reader is not None and reader.exceeded:
            _too_large(f"the CSV decompresses to more than {max_bytes} bytes", "EVALUATION_MAX_DECOMPRESSED_BYTES")
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail("file", f"could not read {file_format.upper()}: {msg}")
    finally:
        if not isinstance(path_or_bytes, (bytes, bytearray, memoryview)) and not hasattr(path_or_bytes, "read"):
            raw.close()
    if table.num_rows == 0:
        _fail("file", "the table has no rows")
    if max_rows is not None and table.num_rows > max_rows:
        _too_large(f"the table has {table.num_rows} rows, more than the limit of {max_rows}", "EVALUATION_MAX_ROWS")
    return table


def _column_values(table: Any, col: str, fname: str) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col not in table.column_names:
        shown = ", ".join(table.column_names[:20])
        _fail(fname, f"column {col!r} not found in the file (columns: {shown})")
    if table.column_names.count(col) > 1:
        _fail(fname, f"column {col!r} appears more than once in the file")
    arr = table.column(col)
    if arr.null_count:
        _fail(fname, f"column {col!r} has {arr.null_count} missing values")
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = pc.cast(arr, t.value_type)
        t = arr.type
    out: np.ndarray
    if pa.types.is_boolean(t):
        out = arr.to_numpy(zero_copy_only=False).astype(bool)
        return out
    if pa.types.is_integer(t):
        out = arr.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        return out
    if pa.types.is_floating(t):
        out = arr.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        return out
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=str)
    _fail(fname, f"column {col!r} has unsupported type {t}")


@overload
def _col_name(columns: Mapping[str, Any], key: str, required: Literal[True] = ...) -> str: ...
@overload
def _col_name(columns: Mapping[str, Any], key: str, required: bool) -> str | None: ...
def _col_name(columns: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    if key not in columns or columns[key] is None:
        if required:
            _fail(f"columns.{key}", "is required")
        return None
    v = columns[key]
    if not isinstance(v, str) or not v:
        _fail(f"columns.{key}", "must be a column name (string)")
    return v


def parse_table(
    kind: str,
    path_or_bytes: Any,
    *,
    file_format: str,
    columns: dict[str, Any],
    reference: Parsed | None = None,
    params: dict[str, Any] | None = None,
    role: str = "current",
    max_rows: int | None = None,
    max_bytes: int | None = None,
) -> Parsed:
    """Parse a CSV/Parquet table.

    For drift the table is the ``current`` sample (``role="reference"`` parses a reference
    table the same way; pass the result as ``reference=`` when parsing the current table or
    an inline payload). ``max_rows`` / ``max_bytes`` cap the rows and the decompressed bytes read
    (see :func:`_read_table`).
    """
    if kind not in KINDS:
        _fail("kind", f"unknown evaluation kind {kind!r} (expected one of: {', '.join(KINDS)})")
    params = _check_params(params)
    if not isinstance(columns, Mapping):
        _fail("columns", "must be an object mapping roles to column names")
    if kind == "drift":
        _check_keys(columns, {"features", "categorical"}, "columns.")
        if role not in ("current", "reference"):
            _fail("role", "must be 'current' or 'reference'")
        feats = _name_list(columns.get("features"), "columns.features")
        if not feats:
            _fail("columns.features", "must list at least one column")
        declared = set(_name_list(columns.get("categorical"), "columns.categorical"))
        declared |= set(_name_list(params.get("categorical"), "params.categorical"))
        if reference is not None:
            if role == "reference":
                _fail("reference", "cannot combine a reference table with another reference")
            declared |= set(reference.declared_categorical)
        for name in _name_list(columns.get("categorical"), "columns.categorical"):
            if name not in feats:
                _fail("columns.categorical", f"column {name!r} is not listed in columns.features")
        table = _read_table(path_or_bytes, file_format, max_rows=max_rows, max_bytes=max_bytes)
        arrays: dict[str, np.ndarray] = {}
        types: dict[str, str] = {}
        for name in feats:
            raw = _column_values(table, name, "columns.features")
            t, a = as_feature(raw, f"columns.features[{name!r}]", name in declared)
            arrays[f"{role}.{name}"] = a
            types[name] = t
        sides = {role: (arrays, types, "columns.features")}
        if reference is not None:
            sides["reference"] = _reference_side(reference)
        return _merge_drift(sides, tuple(declared), params)
    if reference is not None:
        _fail("reference", "a reference sample is only used by drift evaluations")
    if kind == "performance":
        _check_keys(columns, {"y_true", "y_score"}, "columns.")
        names = {k: _col_name(columns, k) for k in ("y_true", "y_score")}
    else:
        _check_keys(columns, {"y_true", "y_pred", "y_score", "sensitive_features", "sample_weight"}, "columns.")
        names = {"y_true": _col_name(columns, "y_true")}
        if columns.get("y_pred") is not None and columns.get("y_score") is not None:
            _fail("columns.y_score", "give either y_pred or y_score, not both")
        if columns.get("y_pred") is not None:
            names["y_pred"] = _col_name(columns, "y_pred")
        elif columns.get("y_score") is not None:
            names["y_score"] = _col_name(columns, "y_score")
        else:
            _fail("columns.y_pred", "is required (or give y_score and params.threshold)")
        sw = _col_name(columns, "sample_weight", required=False)
        if sw:
            names["sample_weight"] = sw
        sfs = _name_list(columns.get("sensitive_features"), "columns.sensitive_features")
        if not sfs:
            _fail("columns.sensitive_features", "must list at least one column")
        for c in sfs:
            names[f"sensitive_features.{c}"] = c
    table = _read_table(path_or_bytes, file_format, max_rows=max_rows, max_bytes=max_bytes)
    fields: dict[str, tuple[np.ndarray, str]] = {}
    for key, col in names.items():
        fname = "columns.sensitive_features" if key.startswith("sensitive_features.") else f"columns.{key}"
        fields[key] = (_column_values(table, col, fname), fname)
    return _build_labelled(kind, fields, params, "columns.", "")


# ---------------------------------------------------------------------------------------------
# digest
# ---------------------------------------------------------------------------------------------


def _encode_array(a: np.ndarray) -> tuple[bytes, bytes]:
    k = a.dtype.kind
    if k == "f":
        return b"f8", np.ascontiguousarray(a, dtype="<f8").tobytes()
    if k in "iub":
        return b"i8", np.ascontiguousarray(a, dtype="<i8").tobytes()
    if k in "UO":
        return b"str", "".join(s + "\x00" for s in a.tolist()).encode("utf-8")
    raise TypeError(f"cannot encode dtype {a.dtype}")  # pragma: no cover


def input_sha256(parsed: Parsed) -> str:
    """SHA-256 of the canonical binary encoding of ``parsed.arrays`` (see docs/evaluations.md)."""
    h = hashlib.sha256()
    h.update(DIGEST_PREFIX)
    h.update(parsed.kind.encode() + b"\x00")
    for name in sorted(parsed.arrays):
        a = parsed.arrays[name]
        tag, payload = _encode_array(a)
        h.update(name.encode("utf-8") + b"\x00")
        h.update(tag + b"\x00")
        h.update(struct.pack("<Q", len(a)))
        h.update(payload)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    import scipy

    return {"numpy": np.__version__, "scipy": scipy.__version__, "mlgov.evaluations": "1"}


def finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


__all__ = ["Parsed", "parse_inline", "parse_table", "input_sha256", "KINDS"]
