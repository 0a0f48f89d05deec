"""Schemathesis hooks for 50-schemathesis.sh (the gateway's and the admin API's documents).

JSON Schema cannot relate two fields, so the rules Docs/openapi.yaml states in words
(cached tokens within the input they are part of, reasoning within the output, Gemini's
prompt - cached + tool-use prompt within the per-class maximum) are applied here: generated
bodies that break one are dropped, as the document says the gateway refuses them. Nothing
else is filtered, and no failure is ever suppressed.

Docs/admin-openapi.yaml states one rule in words: a date must exist in the calendar (its
pattern allows 2026-02-30); bodies and queries with such a date are dropped. And a fuzzer
is not retrying: a valid `Idempotency-Key` it draws again (`0`, `a`) for the same body would get
the stored first answer, correctly, which the stateful checks read as "created but missing"; so
each valid key is made unique (invalid ones are left as they are, to be refused).
"""

import datetime
import itertools
import re

import schemathesis
from hypothesis.internal import lambda_sources

# Python 3.11.7's ast module can fail with "SystemError: AST constructor recursion depth
# mismatch" (CPython gh-106905) when Hypothesis parses a module's source only to describe a
# lambda for a strategy's repr, deep inside schemathesis' coverage phase. The description is
# cosmetic: fall back to a plain one. (hypothesis is pinned in requirements.txt for this.)
_describe_lambda = lambda_sources._lambda_description


def _describe_lambda_tolerantly(f, *args, **kwargs):
    try:
        return _describe_lambda(f, *args, **kwargs)
    except SystemError:
        return "lambda"


lambda_sources._lambda_description = _describe_lambda_tolerantly

MAXIMUM = 100_000_000


def _count(value):
    """A token count as the gateway reads it (JSON Schema's integers include 3.0); else 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else 0


def _within(usage, whole, details, part):
    inner = usage.get(details)
    if not isinstance(inner, dict):
        return True
    return _count(inner.get(part)) <= _count(usage.get(whole))


def _keeps_cross_field_rules(usage):
    if not isinstance(usage, dict):
        return True
    gemini = usage.get("usageMetadata")
    for counts in (usage, gemini if isinstance(gemini, dict) else {}):
        prompt, cached = _count(counts.get("promptTokenCount")), _count(counts.get("cachedContentTokenCount"))
        if cached > prompt or prompt - cached + _count(counts.get("toolUsePromptTokenCount")) > MAXIMUM:
            return False
    return (_within(usage, "prompt_tokens", "prompt_tokens_details", "cached_tokens")
            and _within(usage, "completion_tokens", "completion_tokens_details", "reasoning_tokens")
            and _within(usage, "input_tokens", "input_tokens_details", "cached_tokens")
            and _within(usage, "output_tokens", "output_tokens_details", "reasoning_tokens"))


def _date(value):
    try:
        return datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except (ValueError, TypeError):
        return None


def _real_date(value):
    """False for a date-shaped string that is not in the calendar (2026-02-30)."""
    if not isinstance(value, str) or len(value) < 10:
        return True
    try:
        datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return False
    return True


@schemathesis.hook
def filter_body(context, body):
    if not isinstance(body, dict):
        return True
    return _keeps_cross_field_rules(body.get("usage")) and _real_date(body.get("effective_from"))


_IDEMPOTENCY_KEY = re.compile(r"^[ \t]*[!-~]([ -~]{0,253}[!-~])?[ \t]*$")
_unique = itertools.count()


@schemathesis.hook
def map_headers(context, headers):
    if not headers:
        return headers
    for name in list(headers):
        value = headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and _IDEMPOTENCY_KEY.match(value):
            headers[name] = f"{value.strip()[:240]}-{next(_unique)}"
    return headers


@schemathesis.hook
def filter_query(context, query):
    value = query.get("from") if isinstance(query, dict) else None
    return not (isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)) or _date(value) is not None
