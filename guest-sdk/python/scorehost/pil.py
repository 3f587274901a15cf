"""A small stand-in for PIL's `Image` inside a Wasm component.

Pillow is a C extension with no wasm32-wasip2 wheel, so it cannot be bundled. This module
reads what the seed's `@rawhttp` example needs, an uploaded image's format and size:

    from scorehost.pil import Image
    image = Image.open(request.files["image"]).convert("RGB")
    width, height = image.size

It checks PNG files completely (chunk CRCs, and the inflated pixel data's length) and JPEG
files structurally (markers and segment lengths up to the frame header, and the end marker).
It does not decode pixels: `convert` only records the mode, and there is no pixel access.
"""

import struct
import zlib

__all__ = ["Image", "UnidentifiedImageError"]


class UnidentifiedImageError(OSError):
    """The bytes are not a PNG or JPEG image this module can read."""


class Image:
    """An image's format, size and mode."""

    def __init__(self, format, size, mode):
        self.format = format
        self.size = size
        self.mode = mode

    @property
    def width(self):
        """Pixels per row."""
        return self.size[0]

    @property
    def height(self):
        """Rows."""
        return self.size[1]

    def convert(self, mode):
        """The same image in another mode (only the mode is recorded)."""
        return Image(self.format, self.size, mode)

    @staticmethod
    def open(fp):
        """Reads an image from bytes, a file-like object or a path."""
        if isinstance(fp, (bytes, bytearray)):
            data = bytes(fp)
        elif hasattr(fp, "read"):
            data = fp.read()
        else:
            with open(fp, "rb") as f:
                data = f.read()
        if data.startswith(_PNG_SIGNATURE):
            return _open_png(data)
        if data.startswith(b"\xff\xd8"):
            return _open_jpeg(data)
        raise UnidentifiedImageError("cannot identify image file: not a PNG or JPEG stream")

    def __repr__(self):
        return f"<Image {self.format} size={self.size[0]}x{self.size[1]} mode={self.mode}>"


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# colour type -> (channels, mode)
_PNG_COLOUR = {0: (1, "L"), 2: (3, "RGB"), 3: (1, "P"), 4: (2, "LA"), 6: (4, "RGBA")}


def _open_png(data):
    pos = len(_PNG_SIGNATURE)
    header = None
    idat = []
    while True:
        if pos + 8 > len(data):
            raise UnidentifiedImageError("truncated PNG: no IEND chunk")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise UnidentifiedImageError(f"truncated PNG chunk {kind!r}")
        if zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise UnidentifiedImageError(f"broken PNG: bad CRC in chunk {kind!r}")
        pos += 12 + length
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise UnidentifiedImageError("broken PNG: the first chunk is not IHDR")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, colour, _compression, _filter, interlace = header
    if colour not in _PNG_COLOUR or width == 0 or height == 0:
        raise UnidentifiedImageError("broken PNG: bad IHDR")
    channels, mode = _PNG_COLOUR[colour]
    try:
        pixels = zlib.decompress(b"".join(idat))
    except zlib.error as error:
        raise UnidentifiedImageError(f"broken PNG: {error}") from None
    if interlace == 0:
        row = 1 + (width * channels * depth + 7) // 8
        if len(pixels) != row * height:
            raise UnidentifiedImageError("broken PNG: the pixel data does not fit the size")
    return Image("PNG", (width, height), mode)


# Start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT/JPG/DAC.
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _open_jpeg(data):
    pos = 2
    size = None
    mode = None
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise UnidentifiedImageError("broken JPEG: expected a marker")
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if length < 2 or pos + 2 + length > len(data):
            raise UnidentifiedImageError("truncated JPEG segment")
        if marker in _SOF:
            precision, height, width, components = struct.unpack(">BHHB", data[pos + 4 : pos + 10])
            if width == 0 or height == 0:
                raise UnidentifiedImageError("broken JPEG: empty frame")
            size = (width, height)
            mode = {1: "L", 3: "RGB", 4: "CMYK"}.get(components, "RGB")
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            if size is None:
                raise UnidentifiedImageError("broken JPEG: scan before the frame header")
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise UnidentifiedImageError("truncated JPEG: no end-of-image marker")
            return Image("JPEG", size, mode)
        pos += 2 + length
    raise UnidentifiedImageError("truncated JPEG: no scan")
