"""IPython start-up file for the browser tests: every PNG a figure becomes carries its smallest text.

The browser tests start JupyterLab with ``IPYTHONDIR`` pointing at a folder whose
``profile_default/startup/`` holds a copy of this file, so it runs in every kernel before the
notebook's first cell and changes nothing a learner would see.

It wraps ``IPython.core.pylabtools.print_figure``, the function that turns a matplotlib figure into
the PNG of an output (the inline backend calls it; so does ``fomm_teach.widgets.figure_to_png``),
and records every piece of text the Agg renderer actually draws (size in points, the text). The
PNG gets one extra ``tEXt`` chunk, keyword ``fomm-teach-text``, value JSON
``{"dpi": ..., "min_pt": ..., "min_text": ..., "count": ...}``. The browser test decodes the
``<img>``'s data URL, and the rendered height of the smallest text is
``min_pt * dpi / 72 * (rendered width / natural width)`` CSS pixels.
"""

import json
import struct
import zlib

from IPython.core import pylabtools
from matplotlib.backends import backend_agg

KEYWORD = "fomm-teach-text"
_drawn = []            # (size in points, text) of every text drawn during the current print_figure
_recording = [False]

_original_draw_text = backend_agg.RendererAgg.draw_text


def _draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
    if _recording[0] and str(s).strip():
        _drawn.append((float(prop.get_size_in_points()), str(s)))
    return _original_draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)


backend_agg.RendererAgg.draw_text = _draw_text


def _with_text_chunk(png: bytes, text: str) -> bytes:
    """Insert a tEXt chunk (KEYWORD, text) right before the PNG's IEND chunk."""
    body = KEYWORD.encode("latin-1") + b"\0" + text.encode("latin-1", "replace")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


_original_print_figure = pylabtools.print_figure


def print_figure(fig, fmt="png", bbox_inches="tight", base64=False, **kwargs):
    if fmt not in ("png", "retina"):
        return _original_print_figure(fig, fmt, bbox_inches, base64, **kwargs)
    del _drawn[:]
    _recording[0] = True
    try:
        png = _original_print_figure(fig, fmt, bbox_inches, False, **kwargs)
    finally:
        _recording[0] = False
    if png is None:
        return None
    dpi = float(kwargs.get("dpi", fig.dpi)) * (2 if fmt == "retina" else 1)
    smallest = min(_drawn, default=(None, ""))
    record = {"dpi": dpi, "min_pt": smallest[0], "min_text": smallest[1][:60], "count": len(_drawn)}
    png = _with_text_chunk(png, json.dumps(record, ensure_ascii=True))
    if base64:
        from binascii import b2a_base64

        return b2a_base64(png, newline=False).decode("ascii")
    return png


pylabtools.print_figure = print_figure
