"""Sphinx extension: highlight the body of ``%%pytorch`` / ``%%tensorflow`` cells as Python.

IPython's lexer shows the body of any cell magic it does not know as plain text, so without this
every framework cell of the book would lose its syntax highlighting.
"""
from IPython.lib.lexers import IPython3Lexer
from pygments.lexer import bygroups, using
from pygments.token import Keyword, Operator, Text


class RecbookIPython3Lexer(IPython3Lexer):
    name = "IPython3 with recbook's framework magics"
    tokens = {
        **IPython3Lexer.tokens,
        "root": [(r"(?s)(\s*)(%%)(pytorch|tensorflow)([^\n]*\n)(.*)",
                  bygroups(Text, Operator, Keyword, Text, using(IPython3Lexer)))]
        + IPython3Lexer.tokens["root"],
    }


def setup(app):
    app.add_lexer("ipython3", RecbookIPython3Lexer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
