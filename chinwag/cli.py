"""`chinwag`: the terminal client; or, when the first argument names one,
`chinwag web` (the client served to browsers) or one of the scripting
subcommands (`send`, `tail`, `wait`, `login`). The one place that decides."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from .scripting.cli import SUBCOMMANDS

    if args[:1] == ["web"]:
        from .web.cli import main as web_main

        return web_main(args[1:])
    if args and args[0] in SUBCOMMANDS:
        from .scripting.cli import main as scripting_main

        return scripting_main(args)
    from .tui.__main__ import main as tui_main

    return tui_main(args)


if __name__ == "__main__":
    sys.exit(main())
