"""How searched text is folded, the same in Python and in both SQL dialects:
lower case, French (and other Latin) accents removed, the ligatures œ and æ
spelled out — so « ECOLE », « école » and « École » find each other, as people
type them on a phone without accents.

SQLite's ``LOWER`` folds ASCII only, and PostgreSQL's depends on the
database's ``LC_CTYPE`` (ASCII only under ``C``): neither is enough alone. So
the accented letters of both cases are mapped explicitly (``translate`` on
PostgreSQL; the same table in the ``preau_fold`` function the SQLite engine
registers), after ``lower``. Letters outside the table (Greek, Cyrillic…)
are lower-cased by Python and by PostgreSQL under a UTF-8 ``LC_CTYPE``.
"""

from __future__ import annotations

# Each accented letter and the plain lower-case letter it folds to.
_ACCENTED = "àâäáãåÀÂÄÁÃÅçÇéèêëÉÈÊËíìîïÍÌÎÏñÑóòôöõÓÒÔÖÕúùûüÚÙÛÜýÿÝŸ"
_PLAIN = "aaaaaaaaaaaacceeeeeeeeiiiiiiiinnoooooooooouuuuuuuuyyyy"
assert len(_ACCENTED) == len(_PLAIN)
_TABLE = str.maketrans(_ACCENTED, _PLAIN)
_LIGATURES = (("œ", "oe"), ("Œ", "oe"), ("æ", "ae"), ("Æ", "ae"))


def fold(text: str) -> str:
    """``text`` as searches compare it."""
    folded = text.lower().translate(_TABLE)
    for ligature, spelled in _LIGATURES:
        folded = folded.replace(ligature, spelled)
    return folded


def postgres_fold(expression: str) -> str:
    """The SQL expression folding ``expression`` on PostgreSQL, as ``fold`` does."""
    folded = f"translate(lower({expression}), '{_ACCENTED}', '{_PLAIN}')"
    for ligature, spelled in _LIGATURES:
        folded = f"replace({folded}, '{ligature}', '{spelled}')"
    return folded
