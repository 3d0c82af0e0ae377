"""The fast paths of `FilterSet.apply` (prompt cache, piece cache, one pass over cached marks)
give exactly what the general path gives, token by token: on real prompts, on real phrases
wrapped in weighted groups that span commas, line breaks and BREAK, and on random text."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from civittui.prompts.filters import FilterResult, FilterSet
from civittui.prompts.syntax import split_pieces
from tests.fakecivitai.prompts import PROMPTS as SERVER_PROMPTS
from tests.test_filters import REAL_PROMPTS, TERMS, decorated_token

REAL_TEXTS = [p for pair in SERVER_PROMPTS for p in pair if p]
REAL_TEXTS += [p for p, _, _ in REAL_PROMPTS]
PHRASES = sorted({p.strip() for text in REAL_TEXTS for p in re.split(r"[,\n]", text) if p.strip()})


@pytest.fixture(scope="module", params=["test terms", "shipped lists"])
def fs(request: pytest.FixtureRequest) -> FilterSet:
    return FilterSet.from_terms(TERMS) if request.param == "test terms" else FilterSet.load()


def check(fs: FilterSet, prompt: str) -> FilterResult:
    """`apply` equals the general path (which naming the categories forces), key order too."""
    reference = fs.apply(prompt, enabled=fs.categories)
    for _ in range(2):  # first sight, then from the prompt cache
        result = fs.apply(prompt)
        assert result.prompt == reference.prompt
        assert list(result.removed.items()) == list(reference.removed.items())
    return reference


@pytest.mark.parametrize("prompt", REAL_TEXTS)
def test_real_prompts(fs: FilterSet, prompt: str) -> None:
    check(fs, prompt)


@st.composite
def grouped_prompt(draw: st.DrawFn) -> str:
    """Real phrases and decorated tokens, runs of them in a group ``(a, b:1.2)`` now and then,
    groups nested or left open, joined by commas, line breaks and BREAK."""
    items = draw(
        st.lists(st.one_of(st.sampled_from(PHRASES), decorated_token()), min_size=0, max_size=16)
    )
    for _ in range(draw(st.integers(0, 3))):
        if not items:
            break
        start = draw(st.integers(0, len(items) - 1))
        end = draw(st.integers(start, len(items) - 1))
        opener, closer = draw(st.sampled_from(["()", "[]", "{}", "(("]))
        if draw(st.booleans()):
            items[start] = opener + items[start]
        if draw(st.booleans()):
            items[end] += draw(st.sampled_from(["", ":1.2", ":0.8"])) + closer
    separators = [", ", ",", " , ", ",\n", "\n", "\nBREAK\n", " BREAK ", ", BREAK, ", ",,", " "]
    joins = draw(st.lists(st.sampled_from(separators), min_size=len(items), max_size=len(items)))
    return "".join(i + s for i, s in zip(items, joins, strict=True)).rstrip(", ")


@settings(max_examples=400, deadline=None)
@given(grouped_prompt())
@example("(nude, smile:1.2), 1girl")
@example("(masterpiece, best quality:1.2), (nude, 1girl <lora:x:1>:1.2)")
@example("(nude, <lora:x:1>, smile:1.2)")
@example("(1girl <lora:x:1>, nude:1.2)")
@example("(a\\, nude:1.2)")
@example("(nude\nBREAK\nsmile, nude:1.2)\nred dress)")
@example("((nude, (a, b:1.1), bikini:1.2)")
@example("<lora:a(b:1>, nude), c")
@example("[nude <lora:ok:1>, smile]")
def test_grouped_prompts(fs: FilterSet, prompt: str) -> None:
    check(fs, prompt)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*"ab nude,()[]{}\\:1.<>\n\r、，", "BREAK"])).map("".join))
@example("(nude <a BREAK b>, c:1.2)")
def test_random_text(fs: FilterSet, prompt: str) -> None:
    # A tag written across a BREAK (``<a BREAK b>``) is one token to the tokenizer and two
    # pieces to the line split; where no bracket moves, the line split's reading stands.
    if not re.search(r"<[^<>,，、\r\n]*BREAK[^<>,，、\r\n]*>", prompt):
        check(fs, prompt)


_OLD_SPLIT = re.compile(r"(,|，|、|\r\n|\r|\n|\bBREAK\b|<[^<>,，、\r\n]+>)")


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*"aB_1 ,\n<>:é", "BREAK", "REAK"])).map("".join))
@example("xBREAK BREAK_ BREAK, éBREAK 1BREAK")
def test_split_reads_break_as_a_word(prompt: str) -> None:
    """``B(?<!\\wB)REAK\\b`` is ``\\bBREAK\\b``: the split is unchanged by the faster spelling."""
    assert split_pieces(prompt) == _OLD_SPLIT.split(prompt)
