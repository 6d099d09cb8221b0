"""Where Arena's own games keep their browser pages: the web client shipped beside the server
(`client/web`), which `/client/` serves too. A game installed with pip keeps its page in its
own package instead (`GamePage`)."""

from __future__ import annotations

from pathlib import Path

CLIENT_WEB = Path(__file__).resolve().parents[2] / "client" / "web"
