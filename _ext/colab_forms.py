"""Sphinx extension: the HTML book shows a Colab-folded solution cell as it was written.

`scripts/bookctl.py sync` folds every solution cell of chapters/*.ipynb for Colab: a first line
`#@title Solution` and the cell metadata "cellView": "form". Colab shows such a cell as its title
until the reader opens it; the HTML book already hides it behind "Show code cell source"
(`hide-input`), so the title line would only add noise there: it is dropped as the notebook is
read, before it is executed or rendered.
"""
from __future__ import annotations

import json


def strip_form_titles(text: str) -> str:
    """The notebook JSON `text` with the `#@title` first line of every form cell removed."""
    if '"cellView"' not in text:
        return text
    nb = json.loads(text)
    for cell in nb.get("cells", []):
        if cell.get("metadata", {}).get("cellView") != "form":
            continue
        source = cell["source"]
        lines = source.splitlines(keepends=True) if isinstance(source, str) else list(source)
        if lines and lines[0].startswith("#@title"):
            cell["source"] = "".join(lines[1:])
    return json.dumps(nb, ensure_ascii=False)


def _source_read(app, docname, source):
    if str(app.env.doc2path(docname)).endswith(".ipynb"):
        source[0] = strip_form_titles(source[0])


def setup(app):
    app.connect("source-read", _source_read)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
