"""Small but valid media and model files: PNG, JPEG, WebP, MP4 and safetensors bytes."""

from __future__ import annotations

import json
import random
import struct
import zlib

# An 8x8 baseline JPEG and an 8x8 lossless WebP (both orange), made once with an image library.
_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300100b0c0e0c0a100e0d0e1211101318281a1816"
    "16183123251d283a333d3c3933383740485c4e404457453738506d51575f626768673e4d71797064785c6567"
    "63ffdb0043011112121815182f1a1a2f63423842636363636363636363636363636363636363636363636363"
    "6363636363636363636363636363636363636363636363636363ffc000110800080008030122000211010311"
    "01ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303"
    "020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f024"
    "33627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a63646566"
    "6768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7"
    "b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc400"
    "1f0100030101010101010101010000000000000102030405060708090a0bffc400b511000201020404030407"
    "05040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a"
    "162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a63646566676869"
    "6a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9"
    "bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffda000c030100"
    "02110311003f00928a28af18f58fffd9"
)
_WEBP_VP8L = bytes.fromhex("2f07c001000750bc2217a5ff8188e87f00")

CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "mp4": "video/mp4",
}


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bytes(tag: int, width: int = 16, height: int = 16) -> bytes:
    """A valid RGB PNG whose colour and tEXt chunk depend on ``tag``."""
    rgb = bytes(((tag * 37) & 0xFF, (tag * 91) & 0xFF, (tag * 53) & 0xFF))
    raw = b"".join(b"\x00" + rgb * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"tEXt", b"Comment\x00" + str(tag).encode())
        + _png_chunk(b"IDAT", zlib.compress(raw, 1))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bytes(tag: int) -> bytes:
    """A valid JPEG made unique by a COM segment carrying ``tag``."""
    comment = f"fake image {tag}".encode()
    return _JPEG[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + _JPEG[2:]


def webp_bytes(tag: int) -> bytes:
    """A valid lossless WebP followed by a private chunk carrying ``tag``."""
    vp8l = b"VP8L" + struct.pack("<I", len(_WEBP_VP8L)) + _WEBP_VP8L + b"\x00"
    extra = str(tag).encode().ljust(8, b" ")
    body = b"WEBP" + vp8l + b"XTAG" + struct.pack("<I", len(extra)) + extra
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp4_bytes(tag: int) -> bytes:
    """A minimal ISO-BMFF file (ftyp, free carrying ``tag``, empty mdat)."""
    ftyp = b"ftypisom" + struct.pack(">I", 0x200) + b"isomiso2mp41"
    free = f"fake video {tag}".encode()
    return (
        struct.pack(">I", len(ftyp) + 4)
        + ftyp
        + struct.pack(">I", len(free) + 8)
        + b"free"
        + free
        + struct.pack(">I", 8)
        + b"mdat"
    )


def media_bytes(kind: str, tag: int) -> bytes:
    """Bytes for ``kind`` (png, jpeg, webp, mp4), unique per ``tag``."""
    if kind == "png":
        return png_bytes(tag)
    if kind == "jpeg":
        return jpeg_bytes(tag)
    if kind == "webp":
        return webp_bytes(tag)
    if kind == "mp4":
        return mp4_bytes(tag)
    raise ValueError(f"unknown media kind: {kind}")


def safetensors_bytes(size: int, seed: int, dtype: str = "F16") -> bytes:
    """A valid safetensors file of exactly ``size`` bytes (header padded with spaces).

    Layout: 8-byte little-endian header length, JSON header, tensor payload.
    """
    header_probe = {"__metadata__": {"format": "pt", "seed": str(seed)}, "w": {}}
    base = len(json.dumps(header_probe)) + 80
    payload_len = max(size - 8 - base, 2) // 2 * 2
    header = {
        "__metadata__": {"format": "pt", "seed": str(seed)},
        "lora_unet.weight": {
            "dtype": dtype,
            "shape": [payload_len // 2],
            "data_offsets": [0, payload_len],
        },
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    pad = max(size - 8 - len(text) - payload_len, 0)
    text += b" " * pad
    payload = random.Random(seed).randbytes(payload_len)
    return struct.pack("<Q", len(text)) + text + payload


def zip_bytes(seed: int, names: list[str]) -> bytes:
    """A small valid ZIP archive (stored entries) for "Training Data" files."""
    import io
    import zipfile

    buf = io.BytesIO()
    rng = random.Random(seed)
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in names:
            zf.writestr(name, rng.randbytes(512))
    return buf.getvalue()
