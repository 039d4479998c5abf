"""The runtime tokenizer gives exactly open_clip's ids (clip-bpe) and HFTokenizer's ids (hf)."""

from __future__ import annotations

import gzip
import html
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import open_clip
import pytest
from open_clip.tokenizer import HFTokenizer, default_bpe

from app.core.model.info import ModelError, ModelInfo
from app.core.model.tokenizer import CLIP_BPE_FILE, load_tokenizer

STRINGS = [
    "a photo of a cat",
    "A Photo Of A CAT",
    "",
    "   ",
    "   lots   of\t\tspaces\n\nand\r\nnewlines   ",
    "café naïve coöperate résumé",
    "e\u0301 combining accent vs é",
    "Straße, Œuvre, Ærøskøbing, İstanbul",
    "日本語のテキスト、東京の夜景",
    "中文：一只在海滩上的狗",
    "한국어 사진 바다",
    "Привет, мир! фото кота",
    "Γειά σου κόσμε",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "ภาษาไทย",
    "🐶🐱 emoji 👨‍👩‍👧‍👦 family 🏳️‍🌈 flag 👍🏽",
    "dog🐕dog",
    "&amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; &quot;quoted&quot; &#39;x&#39; &eacute;",
    "Tom &amp; Jerry &lt;3",
    "mojibake: Ã©tÃ© Ã  la plage",
    "ﬁ ligature, ½ half, ™ trade, Ⅻ roman, ①②③, ＦＵＬＬＷＩＤＴＨ",
    "it's we're they've I'm you'll he'd can't IT'S",
    "‘curly’ “quotes” — dashes – and … ellipsis",
    "!!!???...,,,;;;:::",
    "sunset_beach-2019.jpg (edited) [v2] {draft} #tag @user",
    "https://example.com/photos?id=42&x=y user@example.org",
    "1234567890 3.14159 1,000,000 2nd 21st",
    "tab\there, nul\x00char, bell\x07, zero\u200bwidth, bom\ufeff",
    "<|endoftext|> <|startoftext|> [CLS] [SEP] <s> </s>",
    " ".join(["word"] * 100),
    "supercalifragilisticexpialidocious" * 20,
    "一" * 200,
    "🙂" * 100,
]


def _clip_info(context_length: int = 77, clean: str | None = None) -> ModelInfo:
    tok = {"kind": "clip-bpe", "file": CLIP_BPE_FILE}
    if clean:
        tok["clean"] = clean
    return ModelInfo(
        model_id="t", arch="t", pretrained=None, embed_dim=8, image_size=32,
        mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic",
        resize_mode="shortest", context_length=context_length, tokenizer=tok,
    )  # fmt: skip


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bpe")
    shutil.copy(default_bpe(), d / CLIP_BPE_FILE)
    return d


@pytest.fixture(scope="module")
def clip_tok(bpe_dir: Path):
    return load_tokenizer(bpe_dir, _clip_info())


def test_clip_bpe_matches_open_clip_tokenize(clip_tok) -> None:
    assert len(STRINGS) >= 30
    ours = clip_tok.encode(STRINGS)
    ref = open_clip.tokenize(STRINGS).numpy()
    assert ours.dtype == np.int64 and ours.shape == (len(STRINGS), 77)
    for s, a, b in zip(STRINGS, ours, ref, strict=True):
        assert a.tolist() == b.tolist(), f"ids differ for {s!r}"


def test_each_string_alone_equals_its_row_in_a_batch(clip_tok) -> None:
    batch = clip_tok.encode(STRINGS)
    for i in (0, 7, 17, 32):
        np.testing.assert_array_equal(clip_tok.encode([STRINGS[i]])[0], batch[i])


def test_structure_sot_eot_padding_and_truncation(clip_tok) -> None:
    short, long = clip_tok.encode(["a dog", " ".join(["dog"] * 200)])
    sot, eot = 49406, 49407
    assert short[0] == sot and short[3] == eot and not short[4:].any()
    assert long[0] == sot and long[-1] == eot and (long != 0).all()
    assert int(long.argmax()) == 76  # the end token stays the last, highest id


TYPED_SPECIALS = [
    "<start_of_text>",
    "<end_of_text>",
    "a <end_of_text> b <start_of_text> c",
    "x<start_of_text>y",
    "_<start_of_text> and <<end_of_text>>",
    "<START_OF_TEXT> shouted",
    "&lt;end_of_text&gt; escaped",
]


@pytest.mark.parametrize("text", TYPED_SPECIALS)
def test_typed_special_tokens_stay_text(clip_tok, text: str) -> None:
    # open_clip would turn a typed "<end_of_text>" into the end id, and the text tower pools at
    # the first end id, silently dropping the rest of the query. Here it is ordinary text: one
    # start and one end token, and the pieces decode back to what was typed.
    from open_clip.tokenizer import SimpleTokenizer

    ids = clip_tok.encode([text])[0].tolist()
    body = ids[1 : ids.index(49407)]
    assert ids[0] == 49406 and ids.count(49406) == 1 and ids.count(49407) == 1
    assert all(i < 49406 for i in body)
    decoded = SimpleTokenizer().decode(body).replace(" ", "")
    assert decoded == html.unescape(text).lower().replace(" ", "")


@pytest.mark.parametrize("context_length", [16, 32])
def test_other_context_lengths(bpe_dir: Path, context_length: int) -> None:
    tok = load_tokenizer(bpe_dir, _clip_info(context_length))
    ref = open_clip.tokenize(STRINGS, context_length=context_length).numpy()
    np.testing.assert_array_equal(tok.encode(STRINGS), ref)


@pytest.mark.parametrize("clean", ["whitespace", "canonicalize"])
def test_other_cleaning_modes_match_simple_tokenizer(bpe_dir: Path, clean: str) -> None:
    from open_clip.tokenizer import SimpleTokenizer

    tok = load_tokenizer(bpe_dir, _clip_info(clean=clean))
    ref = SimpleTokenizer(default_bpe(), clean=clean)(STRINGS[:30]).numpy()
    np.testing.assert_array_equal(tok.encode(STRINGS[:30]), ref)


def test_missing_tokenizer_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"bpe_simple_vocab_16e6\.txt\.gz.*install it again"):
        load_tokenizer(tmp_path, _clip_info())


def test_corrupt_tokenizer_file_names_it(tmp_path: Path) -> None:
    (tmp_path / CLIP_BPE_FILE).write_bytes(b"not gzip at all")
    with pytest.raises(ModelError, match="unreadable"):
        load_tokenizer(tmp_path, _clip_info())
    with gzip.open(tmp_path / CLIP_BPE_FILE, "wt") as f:
        f.write("#version\na b\n")
    with pytest.raises(ModelError, match="not open_clip's BPE merge list"):
        load_tokenizer(tmp_path, _clip_info())


def test_unknown_kind_is_a_model_error(tmp_path: Path) -> None:
    info = _clip_info()
    bad = replace(info, tokenizer={"kind": "sentencepiece"})
    with pytest.raises(ModelError, match="unknown tokenizer kind"):
        load_tokenizer(tmp_path, bad)


# --- "hf": a tokenizer.json saved from an HF fast tokenizer, as the exporter writes it


CORPUS = [
    "a photo of a dog on the beach",
    "a red circle and a blue square",
    "Un chien sur la plage, été 2019",
    "ein Hund am Strand im Sommer",
    "猫と犬の写真",
    "sunset over the mountains with clouds",
] * 20


def _wordpiece():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    names = dict(unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token="[MASK]")  # fmt: skip
    return tok, names, tok.token_to_id("[PAD]")


def _unigram():
    """XLM-RoBERTa-like: sentencepiece-style Unigram, <s> ... </s>, pad id 1."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    trainer = trainers.UnigramTrainer(vocab_size=150, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    names = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
                 cls_token="<s>", sep_token="</s>")  # fmt: skip
    return tok, names, 1


@pytest.mark.parametrize("builder", [_wordpiece, _unigram], ids=["wordpiece", "unigram"])
@pytest.mark.parametrize("clean", ["whitespace", "lower", "canonicalize"])
def test_hf_kind_matches_open_clip_hftokenizer(tmp_path: Path, builder, clean: str) -> None:
    from transformers import PreTrainedTokenizerFast

    raw, names, pad_id = builder()
    assert pad_id == raw.token_to_id(names["pad_token"])
    hf_dir = tmp_path / "hf"
    PreTrainedTokenizerFast(tokenizer_object=raw, **names).save_pretrained(str(hf_dir))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    shutil.copy(hf_dir / "tokenizer.json", model_dir / "tokenizer.json")
    info = replace(
        _clip_info(context_length=16),
        tokenizer={"kind": "hf", "file": "tokenizer.json", "pad_id": pad_id, "clean": clean},
    )
    ours = load_tokenizer(model_dir, info).encode(STRINGS)
    ref = HFTokenizer(str(hf_dir), context_length=16, clean=clean)(STRINGS).numpy()
    assert ours.dtype == np.int64 and ours.shape == (len(STRINGS), 16)
    for s, a, b in zip(STRINGS, ours, ref, strict=True):
        assert a.tolist() == b.tolist(), f"ids differ for {s!r}"
    # padding really is pad_id and truncation keeps the closing special token
    assert (ours[STRINGS.index("")][3:] == pad_id).all()
    long_row = ours[STRINGS.index(" ".join(["word"] * 100))]
    assert long_row[-1] == raw.token_to_id(names["sep_token"])


def test_hf_missing_file_is_a_model_error(tmp_path: Path) -> None:
    info = replace(_clip_info(), tokenizer={"kind": "hf", "file": "tokenizer.json"})
    with pytest.raises(ModelError, match=r"tokenizer\.json is missing"):
        load_tokenizer(tmp_path, info)
    (tmp_path / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ModelError, match="unreadable"):
        load_tokenizer(tmp_path, info)


def test_published_merges_txt_gives_the_same_ids(tmp_path: Path) -> None:
    """A model folder carries CLIP's BPE as Hugging Face's merges.txt ("#version: 0.2" then
    the merges), as published CLIP exports do; it reads to exactly open_clip's ids."""
    from app.core.model.export.tokenizer_files import write_clip_bpe

    write_clip_bpe(Path(default_bpe()), tmp_path, 77)
    lines = (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#version: 0.2" and len(lines) == 1 + 48894
    info = replace(_clip_info(), tokenizer={"kind": "clip-bpe", "file": "merges.txt"})
    np.testing.assert_array_equal(
        load_tokenizer(tmp_path, info).encode(STRINGS), open_clip.tokenize(STRINGS).numpy()
    )


@pytest.mark.parametrize("side", ["left", "right"])
def test_hf_padding_side_follows_tokenizer_config(tmp_path: Path, side: str) -> None:
    from transformers import PreTrainedTokenizerFast

    raw, names, pad_id = _unigram()
    hf_dir = tmp_path / "hf"
    PreTrainedTokenizerFast(tokenizer_object=raw, padding_side=side, **names).save_pretrained(
        str(hf_dir)
    )
    info = replace(
        _clip_info(context_length=16),
        tokenizer={"kind": "hf", "file": "tokenizer.json", "pad_id": pad_id, "padding_side": side},
    )
    ours = load_tokenizer(hf_dir, info).encode(STRINGS)
    ref = HFTokenizer(str(hf_dir), context_length=16)(STRINGS).numpy()
    np.testing.assert_array_equal(ours, ref)
    short = ours[STRINGS.index("")]
    assert short[0 if side == "left" else -1] == pad_id
