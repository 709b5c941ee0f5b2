"""Minimal reader for Canon's CIFF container (``.CRW``), which exifread cannot parse.

Only the records the suite needs are decoded: make/model, the shot-info array (exposure time,
f-number and base ISO, in Canon's 1/32-EV APEX encoding), the focal length and the image rotation.
Layout facts (record = u16 tag, u32 size, u32 offset; the table offset is the last u32 of a heap;
tag bits 0x4000 = value stored in the record, 0x2800/0x3000 = sub-heap) follow the published CIFF
1.0 specification.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_TAG_MAKE_MODEL = 0x080A
_TAG_IMAGE_INFO = 0x1810
_TAG_FOCAL_LENGTH = 0x1029
_TAG_SHOT_INFO = 0x102A
_MAX_RECORDS = 4096  # guards against garbage tables in truncated files


@dataclass(frozen=True)
class CiffShot:
    """What a CRW file says about its shot; ``None`` where the record is absent."""

    make: str | None = None
    model: str | None = None
    exposure_time_s: float | None = None
    f_number: float | None = None
    iso: float | None = None
    focal_length_mm: float | None = None
    rotation_deg: int | None = None


def is_ciff(head: bytes) -> bool:
    """True for the first 14 bytes of a CIFF file."""
    return len(head) >= 14 and head[:2] in (b"II", b"MM") and head[6:14] == b"HEAPCCDR"


def canon_ev(code: int) -> float:
    """Decode Canon's signed EV code: 1/32-EV units where fractions 0x0C and 0x14 mean 1/3 and 2/3."""
    sign = -1.0 if code < 0 else 1.0
    a = abs(code)
    frac = a & 0x1F
    whole = a - frac
    thirds = {0x0C: 32.0 / 3.0, 0x14: 64.0 / 3.0}
    return sign * (whole + thirds.get(frac, float(frac))) / 32.0


def read_ciff(data: bytes) -> CiffShot:
    """Parse a CIFF file's bytes; records that cannot be reached (truncated files) are left ``None``."""
    if not is_ciff(data[:14]):
        raise ValueError("not a CIFF (CRW) file")
    e = "<" if data[:2] == b"II" else ">"
    records: dict[int, bytes] = {}
    header_len = struct.unpack(e + "I", data[2:6])[0]
    _walk_heap(data, e, header_len, len(data), records, depth=0)

    fields: dict[str, object] = {}
    if (mm := records.get(_TAG_MAKE_MODEL)) is not None:
        parts = mm.split(b"\x00")
        if len(parts) >= 2:
            fields["make"] = parts[0].decode("latin-1").strip() or None
            fields["model"] = parts[1].decode("latin-1").strip() or None
    if (shot := records.get(_TAG_SHOT_INFO)) is not None and len(shot) >= 46:
        vals = struct.unpack(e + f"{len(shot) // 2}h", shot[: len(shot) // 2 * 2])
        base_iso_code, f_code, t_code = vals[2], vals[21], vals[22]
        if base_iso_code:
            fields["iso"] = 100.0 * 2.0 ** (base_iso_code / 32.0 - 5.0)
        if f_code:
            fields["f_number"] = 2.0 ** (canon_ev(f_code) / 2.0)
        if t_code:
            fields["exposure_time_s"] = 2.0 ** (-canon_ev(t_code))
    if (fl := records.get(_TAG_FOCAL_LENGTH)) is not None and len(fl) >= 4:
        focal = struct.unpack(e + "H", fl[2:4])[0]
        fields["focal_length_mm"] = float(focal) if focal else None
    if (info := records.get(_TAG_IMAGE_INFO)) is not None and len(info) >= 16:
        rot = struct.unpack(e + "i", info[12:16])[0]
        fields["rotation_deg"] = rot if rot in (0, 90, 180, 270) else None
    return CiffShot(**fields)  # type: ignore[arg-type]


def _walk_heap(data: bytes, e: str, start: int, end: int, out: dict[int, bytes], depth: int) -> None:
    if depth > 8 or end - start < 6 or end > len(data):
        return
    table = start + struct.unpack(e + "I", data[end - 4 : end])[0]
    if not start <= table <= end - 2:
        return
    count = struct.unpack(e + "H", data[table : table + 2])[0]
    for i in range(min(count, _MAX_RECORDS)):
        p = table + 2 + 10 * i
        if p + 10 > end:
            return
        tag, size, offset = struct.unpack(e + "HII", data[p : p + 10])
        in_record = (tag & 0xC000) == 0x4000
        kind = tag & 0x3800
        tid = tag & 0x3FFF
        if in_record:
            out.setdefault(tid, data[p + 2 : p + 10])
            continue
        a, b = start + offset, start + offset + size
        if b > end or size == 0:
            continue
        if kind in (0x2800, 0x3000):
            _walk_heap(data, e, a, b, out, depth + 1)
        else:
            out.setdefault(tid, data[a:b])
