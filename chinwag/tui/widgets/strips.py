"""Rich Text to Textual Strip, with the text's base style applied."""

from __future__ import annotations

from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip


def text_strip(text: Text, console: Console) -> Strip:
    """`Text.render()` leaves the base style out when a text has no spans
    (a console applies it); here it is applied to every segment."""
    base = text.style if isinstance(text.style, Style) else console.get_style(text.style)
    return Strip(Segment.apply_style(text.render(console), style=base))
