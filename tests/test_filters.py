"""Prompt filters: tokens, normal form, matching, rebuilt prompts, lists on disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from civittui.errors import FilterListError
from civittui.prompts.filters import FilterSet, add_term, shipped_filters_dir
from civittui.prompts.syntax import normalize, tokenize

TERMS = {
    "sex": ["nude", "nsfw", "* sex", "cum*", "<lora:nsfw*>", "large breasts"],
    "clothes": [
        "* dress",
        "dress",
        "bikini",
        "school uniform",
        "<lyco:outfit*>",
        "한복",
        "水着",
        "thighhighs",
    ],
    "etc": [
        "masterpiece",
        "best quality",
        "* quality",
        "score *",
        "source *",
        "rating *",
        "watermark",
        "easynegative",
        "embedding:easynegative",
    ],
}


@pytest.fixture(scope="module")
def fs() -> FilterSet:
    return FilterSet.from_terms(TERMS)


# (prompt as written, filtered prompt, removed by category)
REAL_PROMPTS = [
    # A1111, plain
    (
        "masterpiece, best quality, 1girl, solo, red dress, looking at viewer",
        "1girl, solo, looking at viewer",
        {"etc": ["masterpiece", "best quality"], "clothes": ["red dress"]},
    ),
    # A1111 weights and underscores
    (
        "(masterpiece:1.2), (best quality:1.2), 1girl, (red_dress:1.1), smile",
        "1girl, smile",
        {"etc": ["(masterpiece:1.2)", "(best quality:1.2)"], "clothes": ["(red_dress:1.1)"]},
    ),
    ("((red dress:1.2)), ((smile))", "((smile))", {"clothes": ["((red dress:1.2))"]}),
    (
        "[nude], {bikini}, [[blue sky]]",
        "[[blue sky]]",
        {"sex": ["[nude]"], "clothes": ["{bikini}"]},
    ),
    # one weight over a group of tokens
    (
        "(masterpiece, best quality:1.2), 1girl",
        "1girl",
        {"etc": ["(masterpiece", "best quality:1.2)"]},
    ),
    ("(nude, smile:1.2), 1girl", "(smile:1.2), 1girl", {"sex": ["(nude"]}),
    ("(smile, nude:1.2), 1girl", "(smile:1.2), 1girl", {"sex": ["nude:1.2)"]}),
    ("((a, nude:1.2), c)", "((a:1.2), c)", {"sex": ["nude:1.2)"]}),
    ("(nude, bikini), smile", "smile", {"sex": ["(nude"], "clothes": ["bikini)"]}),
    (
        "(nude, (red dress:1.1), smile:1.2)",
        "(smile:1.2)",
        {"sex": ["(nude"], "clothes": ["(red dress:1.1)"]},
    ),
    # escaped brackets are literal
    ("saber \\(fate\\), \\(nude\\)", "saber \\(fate\\)", {"sex": ["\\(nude\\)"]}),
    # Pony score / source / rating tags
    (
        "score_9, score_8_up, score_7_up, source_anime, rating_explicit, 1girl, nude",
        "1girl",
        {
            "etc": ["score_9", "score_8_up", "score_7_up", "source_anime", "rating_explicit"],
            "sex": ["nude"],
        },
    ),
    ("SCORE_9, Score_8_Up, 1boy", "1boy", {"etc": ["SCORE_9", "Score_8_Up"]}),
    # LoRA / LyCORIS tags
    (
        "1girl, <lora:add_detail:0.5>, <lora:NSFW_helper:0.8>, smile",
        "1girl, <lora:add_detail:0.5>, smile",
        {"sex": ["<lora:NSFW_helper:0.8>"]},
    ),
    (
        "1girl <lora:nsfw_helper:0.8> <lora:style_x:1>",
        "1girl, <lora:style_x:1>",
        {"sex": ["<lora:nsfw_helper:0.8>"]},
    ),
    ("<lyco:Outfit_V2:0.7>, 1girl", "1girl", {"clothes": ["<lyco:Outfit_V2:0.7>"]}),
    # BREAK
    (
        "masterpiece, 1girl BREAK red dress, blue sky BREAK smile",
        "1girl BREAK blue sky BREAK smile",
        {"etc": ["masterpiece"], "clothes": ["red dress"]},
    ),
    ("1girl, nude\nBREAK\nblue sky", "1girl\nBREAK\nblue sky", {"sex": ["nude"]}),
    ("BREAKING news, nude", "BREAKING news", {"sex": ["nude"]}),
    ("a break, nude", "a break", {"sex": ["nude"]}),
    # line breaks
    (
        "masterpiece,\n1girl,\nred dress,\nsmile",
        "1girl,\nsmile",
        {"etc": ["masterpiece"], "clothes": ["red dress"]},
    ),
    ("1girl\nnude\r\nsmile", "1girl\nsmile", {"sex": ["nude"]}),
    # ComfyUI-exported prompts: embeddings, weights without spaces
    (
        "embedding:EasyNegative, (worst quality:1.4), lowres",
        "lowres",
        {"etc": ["embedding:EasyNegative", "(worst quality:1.4)"]},
    ),
    (
        "(embedding:EasyNegative:1.2), bad hands",
        "bad hands",
        {"etc": ["(embedding:EasyNegative:1.2)"]},
    ),
    # Korean and Japanese
    (
        "1girl, 한복, 빨간 드레스, nude",
        "1girl, 빨간 드레스",
        {"clothes": ["한복"], "sex": ["nude"]},
    ),
    ("1人の少女, 水着, 笑顔", "1人の少女, 笑顔", {"clothes": ["水着"]}),
    ("メイド、水着、笑顔", "メイド、笑顔", {"clothes": ["水着"]}),
    ("1girl，nude，smile", "1girl, smile", {"sex": ["nude"]}),
    ("（nude：1.2）, smile", "smile", {"sex": ["（nude：1.2）"]}),
    # case, whitespace, underscores, spelling of kept tokens
    (
        "  MasterPiece ,   RED   Dress  ,smile  ",
        "smile",
        {"etc": ["MasterPiece"], "clothes": ["RED   Dress"]},
    ),
    ("school_uniform, looking_at_viewer", "looking_at_viewer", {"clothes": ["school_uniform"]}),
    # wildcards cover the whole token, not a substring
    ("dress shirt, red dress", "dress shirt", {"clothes": ["red dress"]}),
    ("sexy pose, anal sex, cumulus clouds", "sexy pose", {"sex": ["anal sex", "cumulus clouds"]}),
    # empty tokens, empty prompts, everything removed, repeats
    (",, 1girl,, ,nude,", "1girl", {"sex": ["nude"]}),
    ("", "", {}),
    ("nude, bikini", "", {"sex": ["nude"], "clothes": ["bikini"]}),
    ("nude, 1girl, NUDE", "1girl", {"sex": ["nude", "NUDE"]}),
    # prompt editing, odd weights, NovelAI braces
    ("[dress:bikini:0.5], 1girl", "[dress:bikini:0.5], 1girl", {}),
    ("( nude : 1.3 ), smile", "smile", {"sex": ["( nude : 1.3 )"]}),
    ("((nude:1.1):1.2), smile", "smile", {"sex": ["((nude:1.1):1.2)"]}),
    ("(watermark:-0.5), 1girl", "1girl", {"etc": ["(watermark:-0.5)"]}),
    ("{{masterpiece}}, {1girl}", "{1girl}", {"etc": ["{{masterpiece}}"]}),
    ("1girl), nude", "1girl)", {"sex": ["nude"]}),
]


@pytest.mark.parametrize(("prompt", "expected", "removed"), REAL_PROMPTS)
def test_real_world_prompts(
    fs: FilterSet, prompt: str, expected: str, removed: dict[str, list[str]]
) -> None:
    result = fs.apply(prompt)
    assert result.prompt == expected
    assert result.removed == {category: tuple(texts) for category, texts in removed.items()}
    assert fs.apply(result.prompt).prompt == expected


def test_enabled_categories_limit_what_is_removed(fs: FilterSet) -> None:
    result = fs.apply("nude, red dress, masterpiece", enabled={"clothes"})
    assert result.prompt == "nude, masterpiece"
    assert result.removed == {"clothes": ("red dress",)}
    assert fs.apply("nude, red dress", enabled=()).prompt == "nude, red dress"


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("((Red_Dress:1.2))", "red dress"),
        ("artist \\(style\\)", "artist style"),
        ("artist_(style)", "artist style"),
        ("(artist (style):1.2)", "artist style"),
        ("[cat:dog:0.5]", "cat:dog"),
        ("((a:1.1):1.2)", "a"),
        ("( a : .8 )", "a"),
        ("score_8_up", "score 8 up"),
        ("  Long    HAIR ", "long hair"),
        ("<LoRA:My_Style:0.8:0.5>", "<lora:my_style>"),
        ("<lyco:Some Thing:1>", "<lyco:some thing>"),
        ("(embedding:Bad_Hands:1.2)", "embedding:bad_hands"),
        ("（ＲＥＤ　ｄｒｅｓｓ：1.2）", "red dress"),
        ("빨간_드레스", "빨간 드레스"),
        ("()", ""),
        ("<3", "<3"),
    ],
)
def test_normal_form(written: str, normal: str) -> None:
    assert normalize(written) == normal
    assert normalize(normal) == normal


def test_tokens_keep_their_spans() -> None:
    prompt = " (masterpiece:1.2),1girl\nBREAK  red dress <lora:x:0.8>,, 笑顔、水着 "
    tokens = tokenize(prompt)
    assert [t.text for t in tokens] == [
        "(masterpiece:1.2)",
        "1girl",
        "red dress",
        "<lora:x:0.8>",
        "笑顔",
        "水着",
    ]
    assert all(prompt[t.start : t.end] == t.text for t in tokens)
    assert tokens[2].normalized == "red dress"


def test_exact_term_beats_wildcard_and_first_category_wins() -> None:
    fs = FilterSet.from_terms({"etc": ["red dress"], "clothes": ["* dress"], "sex": ["* dress"]})
    assert fs.categories == ("sex", "clothes", "etc")
    assert fs.category_of("(Red_Dress:1.3)") == "etc"
    assert fs.category_of("blue dress") == "sex"
    assert fs.category_of("dress") is None


def test_digest_follows_content_not_spelling() -> None:
    a = FilterSet.from_terms({"sex": ["nude", "* sex"], "etc": ["score_*"]})
    b = FilterSet.from_terms({"etc": ["SCORE *"], "sex": ["(* sex:1.2)", "Nude", "nude"]})
    c = FilterSet.from_terms({"sex": ["nude"], "etc": ["score_*"]})
    assert a.digest == b.digest
    assert a.digest != c.digest
    assert len(a.digest) == 16 and int(a.digest, 16) >= 0


def test_sidecar_block(fs: FilterSet) -> None:
    block = fs.sidecar_block("masterpiece, 1girl, nude", "nsfw, watermark, lowres")
    assert block == {
        "prompt": "1girl",
        "negativePrompt": "lowres",
        "removed": {"etc": ["masterpiece"], "sex": ["nude"]},
        "removedNegative": {"sex": ["nsfw"], "etc": ["watermark"]},
        "filters": fs.digest,
    }
    assert fs.sidecar_block(None, None) == {"prompt": None, "removed": {}, "filters": fs.digest}


# --- properties ---------------------------------------------------------------------------

WORDS = ["nude", "1girl", "red dress", "smile", "bikini", "score_9", "masterpiece", "blue sky"]
WORDS += ["anal sex", "sexy", "cumulus", "<lora:nsfw_x:0.8>", "<lora:ok:1>", "한복", "笑顔"]
SEPARATORS = [",", ", ", " ,", "\n", ",\n", " BREAK ", "，", "、", " "]


@st.composite
def decorated_token(draw: st.DrawFn) -> str:
    word = draw(st.sampled_from(WORDS))
    if draw(st.booleans()):
        word = word.replace(" ", "_")
    if draw(st.booleans()):
        word = word.upper()
    if draw(st.booleans()):
        word = f"{word}:{draw(st.sampled_from(['1.2', '0.8', '-1', '.5']))}"
        word = f"({word})"
    for _ in range(draw(st.integers(0, 2))):
        opener, closer = draw(st.sampled_from(["()", "[]", "{}"]))
        word = opener + word + closer
    return word


@st.composite
def structured_prompt(draw: st.DrawFn) -> str:
    parts = []
    for index in range(draw(st.integers(0, 12))):
        if index:
            parts.append(draw(st.sampled_from(SEPARATORS)))
        # an unbalanced opener or closer now and then, as in "(a, b:1.2)"
        prefix = draw(st.sampled_from(["", "", "", "(", "(("]))
        suffix = draw(st.sampled_from(["", "", "", ")", ":1.2)", "))"]))
        parts.append(prefix + draw(decorated_token()) + suffix)
    return "".join(parts)


PROMPTS = st.one_of(
    structured_prompt(),
    st.text(alphabet=st.sampled_from(list("ab nude,()[]{}\\:1._<>\nBREAK、")), max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(PROMPTS)
@example("a\\, (nude, b:1.2)")
@example("(a, nude:1.2")
def test_properties(fs: FilterSet, prompt: str) -> None:
    result = fs.apply(prompt)
    before = tokenize(prompt)
    after = tokenize(result.prompt)
    # the fast paths agree with the general one (which naming the categories forces)
    assert fs.apply(prompt, enabled=fs.categories) == result
    # idempotent
    again = fs.apply(result.prompt)
    assert again.prompt == result.prompt
    assert again.removed == {}
    # never adds a token, never removes one that matches no term: the words left are exactly
    # those of the unmatched tokens, in order (bare brackets and weights carry no words, and a
    # bracket moved off a removed token may stand alone)
    unmatched = [t for t in before if t.normalized and fs.category_of(t.text) is None]
    words_after = [t for t in after if t.normalized]
    assert [t.normalized for t in words_after] == [t.normalized for t in unmatched]
    # what was removed is exactly the matched tokens, as written
    matched = [t.text for t in before if fs.category_of(t.text) is not None]
    assert Counter(sum(result.removed.values(), ())) == Counter(matched)
    # kept tokens keep their spelling (a moved bracket or group weight may be added around it)
    for kept, original in zip(words_after, unmatched, strict=True):
        assert original.text in kept.text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


# --- lists on disk --------------------------------------------------------------------------


def test_shipped_lists_load_and_do_their_job() -> None:
    shipped = shipped_filters_dir()
    assert sorted(p.name for p in shipped.glob("*.txt")) == ["clothes.txt", "etc.txt", "sex.txt"]
    for path in shipped.glob("*.txt"):
        assert path.read_text(encoding="utf-8").startswith(f"# {path.stem} — ")
    fs = FilterSet.load()
    assert fs.categories == ("sex", "clothes", "etc")
    assert sum(len(fs.terms(c)) for c in fs.categories) >= 300
    prompt = (
        "score_9, score_8_up, source_anime, (masterpiece:1.2), best quality, absurdres, 1girl, "
        "solo, long hair, blue eyes, smile, school uniform, pleated skirt, white thighhighs, "
        "looking at viewer, outdoors, cherry blossoms, nsfw, nude, large breasts, watermark, "
        "<lora:add_detail:0.6>"
    )
    result = fs.apply(prompt)
    assert result.prompt == (
        "1girl, solo, long hair, blue eyes, smile, looking at viewer, outdoors, cherry blossoms, "
        "<lora:add_detail:0.6>"
    )
    assert result.removed["clothes"] == ("school uniform", "pleated skirt", "white thighhighs")
    assert result.removed["sex"] == ("nsfw", "nude", "large breasts")
    neutral = ["1girl", "holding hands", "girl on top", "upper body", "sky", "from side", "sitting"]
    assert [fs.category_of(t) for t in neutral] == [None] * len(neutral)


def test_user_lists_override_and_add(tmp_path: Path) -> None:
    (tmp_path / "Filter_Sex.txt").write_text("# mine\nonlythis\n", encoding="utf-8")
    (tmp_path / "Mood.txt").write_text("gloomy  # inline comment\n\n*_vibes\n", encoding="utf-8")
    fs = FilterSet.load(tmp_path)
    assert fs.categories == ("sex", "clothes", "etc", "mood")
    assert fs.terms("sex") == {"onlythis"}
    assert fs.category_of("nude") is None
    assert fs.category_of("bikini") == "clothes"
    assert fs.category_of("Cozy_Vibes") == "mood"
    assert fs.category_of("gloomy") == "mood"
    assert fs.digest != FilterSet.load().digest


@pytest.mark.parametrize(
    ("content", "where", "why"),
    [
        (b"ok\nred, dress\n", ":2:", "split into 2 tokens"),
        (b"# fine\nfoo BREAK bar\n", ":2:", "split"),
        (b"a\nb\n*\n", ":3:", "matches every token"),
        (b"a\n**\n", ":2:", "matches every token"),
        (b"pink <lora:x:1>\n", ":1:", "split"),
        (b"good\nbad \xff\xfe word\n", ":2:", "not UTF-8"),
    ],
)
def test_bad_lists_name_file_and_line(tmp_path: Path, content: bytes, where: str, why: str) -> None:
    (tmp_path / "mine.txt").write_bytes(content)
    with pytest.raises(FilterListError) as err:
        FilterSet.load(tmp_path)
    message = str(err.value)
    assert f"mine.txt{where}" in message
    assert why in message
    assert "\n" not in message


def test_unreadable_list_and_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "broken.txt").mkdir()
    with pytest.raises(FilterListError, match=r"broken\.txt: cannot read"):
        FilterSet.load(tmp_path)
    with pytest.raises(FilterListError, match="cannot read filters directory"):
        FilterSet.load(tmp_path / "nope")


def test_ignored_lines_and_bom(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes("\ufeff# header\n()\n   \nFoo_Bar\n".encode())
    assert FilterSet.load(tmp_path).terms("x") == {"foo bar"}


def test_from_terms_rejects_bad_input() -> None:
    with pytest.raises(FilterListError, match="category"):
        FilterSet.from_terms({"../evil": ["a"]})
    with pytest.raises(FilterListError, match="matches every token"):
        FilterSet.from_terms({"etc": ["*"]})


def test_add_term_copies_shipped_list_first(tmp_path: Path) -> None:
    user = tmp_path / "filters"
    path = add_term(user, "clothes", "Frilly_Apron")
    assert path == user / "clothes.txt"
    fs = FilterSet.load(user)
    assert fs.category_of("(frilly apron:1.1)") == "clothes"
    assert fs.category_of("bikini") == "clothes"  # the shipped terms came along
    before = path.read_bytes()
    assert add_term(user, "clothes", "frilly apron") == path
    assert path.read_bytes() == before
    add_term(user, "Mood", "gloomy")
    assert FilterSet.load(user).category_of("GLOOMY") == "mood"
    assert (user / "mood.txt").read_text(encoding="utf-8") == "# mood\ngloomy\n"


def test_add_term_appends_to_seed_named_file(tmp_path: Path) -> None:
    (tmp_path / "Filter_Etc.txt").write_bytes(b"old")
    assert add_term(tmp_path, "etc", "new_one") == tmp_path / "Filter_Etc.txt"
    assert (tmp_path / "Filter_Etc.txt").read_bytes() == b"old\nnew_one\n"
    with pytest.raises(FilterListError, match="split"):
        add_term(tmp_path, "etc", "a, b")


REAL_PHRASES = sorted(
    {piece.strip() for prompt, _, _ in REAL_PROMPTS for piece in prompt.split(",") if piece.strip()}
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(REAL_PHRASES), decorated_token()), min_size=0, max_size=30),
    st.lists(st.sampled_from([", ", ",", " , ", ",\n", "\nBREAK\n", "、", " "]), min_size=30),
)
@example(["1girl  <lora:x:1><lora:y:1> smile", "(a <lyco:z:1>:1.2)"], [", "] * 30)
@example(["1girl <lora:nsfw_x:1>", "[a <lora:y:1>"], [", "] * 30)
def test_fast_path_and_prompt_cache_equal_the_reference_path(
    fs: FilterSet, phrases: list[str], separators: list[str]
) -> None:
    """Random prompts of real phrases: `apply` (prompt cache, piece cache, comma and line fast
    paths) gives exactly what the general path gives, on first sight and from the cache."""
    prompt = "".join(p + s for p, s in zip(phrases, separators, strict=False)).rstrip(", ")
    reference = fs.apply(prompt, enabled=fs.categories)  # the general path, no caches
    first = fs.apply(prompt)
    assert first == reference
    with pytest.raises((TypeError, AttributeError)):  # the cached result is read-only
        first.removed["sex"] = ("changed by the caller",)  # type: ignore[index]
    assert fs.apply(prompt) == reference
