"""The shipped model catalog (resources/models/catalog.json) and its loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.model.catalog import (
    CatalogError,
    default_entry,
    find_entry,
    format_table,
    load_catalog,
)
from app.core.resources import resource_path

MULTILINGUAL = {"XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", "nllb-clip-base-siglip__v1"}


@pytest.fixture(scope="module")
def entries():
    return load_catalog()


def test_the_shipped_catalog_loads_with_one_default_the_small_fast_model(entries):
    assert 5 <= len(entries) <= 8
    assert [e.name for e in entries if e.default] == ["ViT-B-32__openai"]
    assert default_entry().name == "ViT-B-32__openai"
    assert default_entry().speed == 1.0


def test_every_entry_is_an_immich_export_with_sane_figures(entries):
    for e in entries:
        assert e.repo == f"immich-app/{e.name}"
        assert e.download_mb < e.ram_mb  # onnxruntime holds the weights plus its working memory
        assert 0 < e.recall.value < 1 and 0 < e.speed <= 1.0
        assert e.description and e.title
    benchmarks = {e.recall.benchmark for e in entries}
    assert len(benchmarks) == 1, f"the recall figures must compare: {benchmarks}"


def test_it_holds_the_models_a_user_chooses_between(entries):
    default = default_entry(entries)
    multilingual = {e.name for e in entries if e.multilingual}
    assert multilingual == MULTILINGUAL
    for e in entries:
        assert (e.recall_multilingual is not None) == e.multilingual
        assert (e.language_count is not None) == e.multilingual
    better_siglip2 = [
        e for e in entries
        if e.family == "siglip2" and e.recall.value > default.recall.value and e.speed >= 0.25
    ]  # fmt: skip
    assert better_siglip2
    gpu = [e for e in entries if e.gpu_recommended]
    assert gpu and all(e.recall.value > default.recall.value for e in gpu)
    assert not default.gpu_recommended


def test_find_entry_takes_the_exact_name_or_any_case(entries):
    assert find_entry("ViT-B-16-SigLIP2__webli", entries).name == "ViT-B-16-SigLIP2__webli"
    assert find_entry("vit-b-16-siglip2__WEBLI", entries).name == "ViT-B-16-SigLIP2__webli"
    assert find_entry("ViT-B-16-SigLIP2", entries) is None
    assert find_entry("nllb-clip-base-siglip__v1").name == "nllb-clip-base-siglip__v1"


def test_the_catalog_ships_where_resources_are():
    assert resource_path("models", "catalog.json").is_file()
    assert resource_path("models", "README.md").is_file()


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def shipped() -> list[dict]:
    return json.loads(resource_path("models", "catalog.json").read_text(encoding="utf-8"))


def test_a_malformed_catalog_gives_a_clear_error(tmp_path):
    with pytest.raises(CatalogError, match=r"catalog\.json cannot be read .*reinstall"):
        load_catalog(write(tmp_path, "[{not json"))
    with pytest.raises(CatalogError, match="non-empty JSON list"):
        load_catalog(write(tmp_path, {"models": []}))
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(tmp_path / "absent.json")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda e: e.pop("ram_mb"),
            r"entry 2 \(ViT-B-32-SigLIP2-256__webli\): 'ram_mb' is missing",
        ),
        (lambda e: e.update(speed="fast"), "'speed' must be a number, not 'fast'"),
        (lambda e: e.update(download_mb=0), "'download_mb' must be positive"),
        (lambda e: e["recall"].update(value=73.2), "a fraction from 0 to 1"),
        (lambda e: e.update(family="vit"), "'family' must be one of"),
        (lambda e: e.update(image_size=224.5), "'image_size' must be a whole number"),
        (lambda e: e.update(languages=[]), "'languages' must be a non-empty list"),
        (lambda e: e.update(default="yes"), "'default' must be true or false"),
        (lambda e: e.update(default=True), "exactly one model as default, not 2"),
        (lambda e: e.update(name="vit-b-32__OPENAI"), "lists a model name twice"),
    ],
)
def test_a_damaged_entry_is_named_in_the_error(tmp_path, damage, message):
    data = shipped()
    damage(data[1])
    with pytest.raises(CatalogError, match=message):
        load_catalog(write(tmp_path, data))


def test_format_table_marks_installed_and_active_and_names_the_benchmark(entries):
    table = format_table(
        entries, {"ViT-B-32__openai", "nllb-clip-base-siglip__v1"}, "ViT-B-32__openai"
    )
    lines = table.splitlines()
    header = lines[0]
    assert header.split()[:5] == ["name", "languages", "download", "RAM", "speed"]
    assert "recall (Crossmodal-3600 English)" in header and header.endswith("status")
    row = {line.split()[0]: line for line in lines[1 : len(entries) + 1]}
    assert row["ViT-B-32__openai"].endswith("active") and "(default)" in row["ViT-B-32__openai"]
    assert row["nllb-clip-base-siglip__v1"].endswith("installed")
    assert row["nllb-clip-base-siglip__v1"].split()[1:3] == ["~200", "languages"]
    assert not row["ViT-B-16-SigLIP2__webli"].endswith(("installed", "active"))
    assert "59.4%" in row["ViT-B-32__openai"] and "607 MB" in row["ViT-B-32__openai"]
    assert "GPU" in row["ViT-H-14-378-quickgelu__dfn5b"]
    assert any(line.startswith("recall: Crossmodal-3600 English") for line in lines)
    nothing = format_table(entries, set(), None)
    assert not any(line.rstrip().endswith(("installed", "active")) for line in nothing.splitlines())
