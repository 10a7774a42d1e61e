"""genai-prices' answers kept on disk between runs (pipeline/price_cache.py, issue 11): the same
prices as genai-prices gives, without importing it for models priced before, and never a wrong
or stale one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from llm_exporter.pipeline import price_cache, pricing
from llm_exporter.pipeline.price_cache import PriceCache, cache_dir
from llm_exporter.pipeline.pricing import PriceBook
from test_startup import REPLAY
from testkit import TESTDATA, make_exporter, write_lines

# One price, tiers by prompt size, no price (unknown), listed but self-hosted, a model that
# appeared under another spelling, a per-request fee, audio prices.
MODELS = [
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-sonnet-20241022"),
    ("gcp.gemini", "gemini-1.5-pro"),
    ("openai", "no-such-model-anywhere"),
    ("ollama", "llama3"),
    ("openai", "openai/gpt-4o-mini"),
    ("perplexity", "sonar"),
    ("openai", "gpt-audio"),
]


def _no_genai_prices(provider: str, model: str) -> tuple[None, bool]:
    raise AssertionError(f"genai-prices asked for {provider}/{model}")


def test_a_second_book_prices_from_the_cache_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = PriceBook(kept_in=tmp_path)
    cold = [first.lookup(p, m) for p, m in MODELS]
    first.save()
    assert cold == [PriceBook().lookup(p, m) for p, m in MODELS]  # the same as without a cache
    assert cold[2] is not None and cold[2].input.tiers  # tiers survive the round trip
    assert cold[3] is None
    assert cold[6] is not None and cold[6].request is not None  # so do fees and audio prices
    assert cold[7] is not None and cold[7].input_audio is not None and cold[7].output_audio is not None
    monkeypatch.setattr(pricing, "_from_genai_prices", _no_genai_prices)
    assert [PriceBook(kept_in=tmp_path).lookup(p, m) for p, m in MODELS] == cold


def test_prices_by_hour_of_day_are_never_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # deepseek-chat has off-peak prices (TimeOfDateConstraint): a kept price could be the wrong hour's.
    book = PriceBook(kept_in=tmp_path)
    assert book.lookup("deepseek", "deepseek-chat") is not None
    assert book.lookup("openai", "gpt-4o") is not None
    book.save()
    kept = json.loads((tmp_path / "prices.json").read_bytes())["prices"]
    assert [entry[:2] for entry in kept] == [["openai", "gpt-4o"]]


def test_lasting_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_prices.types import ConditionalPrice, ModelPrice, StartDateConstraint, TimeOfDateConstraint

    now = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)

    class Info:
        def __init__(self, prices: object) -> None:
            self.prices = prices

    one = ModelPrice(input_mtok=Decimal(1), output_mtok=Decimal(2))

    def since(day: int) -> ConditionalPrice:
        return ConditionalPrice(constraint=StartDateConstraint(start_date=date(2026, 11, day)), prices=one)

    assert pricing._lasting(Info(one), now)
    assert pricing._lasting(Info([ConditionalPrice(prices=one), since(1), since(25)]), now)
    assert not pricing._lasting(Info([since(1), since(26)]), now)  # a change still to come
    hours = TimeOfDateConstraint(start_time=time(16, 30), end_time=time(0, 30))
    off_peak = ConditionalPrice(constraint=hours, prices=one)
    assert not pricing._lasting(Info([ConditionalPrice(prices=one), off_peak]), now)


def test_another_genai_prices_or_exporter_version_is_not_believed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asker = tmp_path / "pricing.py"
    asker.write_text("v1")
    cache = PriceCache(str(asker), tmp_path)
    price = PriceBook().lookup("openai", "gpt-4o")
    cache.put("openai", "gpt-4o", price)
    cache.save()
    assert PriceCache(str(asker), tmp_path).prices == {("openai", "gpt-4o"): price}
    asker.write_text("v2, edited")  # the asking code changed: what it asked may differ
    assert PriceCache(str(asker), tmp_path).prices == {}
    # genai-prices upgraded: its data file is another file.
    monkeypatch.setattr("llm_exporter.pipeline.price_cache._fingerprint", lambda _: [1, 2, 3])
    assert PriceCache(str(asker), tmp_path).prices == {}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"[]",
        b'{"fingerprint": null, "prices": []}',
        b'{"prices": 5}',
        b'{"fingerprint": "FP", "prices": [["openai", "gpt-4o", [[1.0, []]]]]}',
        b'{"fingerprint": "FP", "prices": [["openai", "gpt-4o", [["x", []], [1.0, []], null,null,null,null,null]]]}',
        b'{"fingerprint": "FP", "prices": [["openai", "gpt-4o", [null, [1.0, []], null,null,null,null,null]]]}',
        b'{"fingerprint": "FP", "prices": [["openai", "gpt-4o", [[1.0, []], [1.0, []], null,null,null,null]]]}',
        b'{"fingerprint": "FP", "prices": [["openai", "gpt-4o"]]}',
        b'{"fingerprint": "FP", "prices": 7}',
    ],
)
def test_a_damaged_cache_is_ignored_and_replaced(content: bytes, tmp_path: Path) -> None:
    fingerprint = json.dumps(PriceCache(pricing.__file__, tmp_path / "probe")._fingerprint)
    (tmp_path / "prices.json").write_bytes(content.replace(b'"FP"', fingerprint.encode()))
    book = PriceBook(kept_in=tmp_path)
    assert book.lookup("openai", "gpt-4o") == PriceBook().lookup("openai", "gpt-4o")
    book.save()
    kept = json.loads((tmp_path / "prices.json").read_bytes())
    assert [entry[:2] for entry in kept["prices"]] == [["openai", "gpt-4o"]]


def test_an_unwritable_cache_costs_nothing_but_the_lookups(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    book = PriceBook(kept_in=blocked / "llm-exporter")
    assert [book.lookup(p, m) for p, m in MODELS] == [PriceBook().lookup(p, m) for p, m in MODELS]
    book.save()
    assert sorted(os.listdir(tmp_path)) == ["file-not-dir"]


def test_an_apps_price_book_writes_nothing(tmp_path: Path) -> None:
    assert PriceBook().lookup("openai", "gpt-4o") is not None
    assert not cache_dir().exists()


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "llm-exporter"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "llm-exporter"


def test_a_second_replay_prices_without_importing_genai_prices(_own_cache_dir: Path) -> None:
    def replay() -> dict[str, Any]:
        log = TESTDATA / "golden" / "completion.log"
        run = subprocess.run([sys.executable, "-c", REPLAY, str(log)], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)

    first, second = replay(), replay()
    assert first["code"] == second["code"] == 0
    assert "genai_prices" in set(first["loaded"]) - set(first["baseline"])
    assert "genai_prices" not in set(second["loaded"]) - set(second["baseline"])
    assert second["exposition"] == first["exposition"]
    assert "llm_cost_usd_total" in first["exposition"]
    assert (_own_cache_dir / "llm-exporter" / "prices.json").exists()


def test_thousands_of_new_models_are_written_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log of thousands of models genai-prices does not know: the file is written once, when the
    run ends, not rewritten whole after each model (5,000 of them took 3.9 s that way, against
    0.25 s for the lookups)."""
    written: list[str] = []
    replace = os.replace
    monkeypatch.setattr(price_cache.os, "replace", lambda src, dst: (written.append(str(dst)), replace(src, dst)))
    book = PriceBook(kept_in=tmp_path)
    assert [book.lookup("openai", f"made-up-{i}") for i in range(2000)] == [None] * 2000
    assert not (tmp_path / "prices.json").exists()
    book.save()
    book.save()  # nothing new: nothing written
    assert written == [str(tmp_path / "prices.json")]
    assert len(json.loads((tmp_path / "prices.json").read_bytes())["prices"]) == 2000


def _priced_call(model: str, i: int) -> list[bytes]:
    request = {"event_type": "completion_request", "request_id": f"r{i}", "model": model}
    response = {"event_type": "completion_response", "request_id": f"r{i}", "response_time_ms": 5}
    usage = {"prompt_tokens": 10, "completion_tokens": 5}
    return [json.dumps(request).encode() + b"\n", json.dumps({**response, "token_usage": usage}).encode() + b"\n"]


def test_the_exporter_keeps_prices_when_it_reloads_and_when_it_closes(tmp_path: Path, _own_cache_dir: Path) -> None:
    kept = _own_cache_dir / "llm-exporter" / "prices.json"
    exporter, log = make_exporter(tmp_path, "completion")
    write_lines(log, _priced_call("gpt-4o", 1))
    exporter.poll_once()
    assert not kept.exists()
    exporter.reload(exporter.config)
    assert [entry[:2] for entry in json.loads(kept.read_bytes())["prices"]] == [["openai", "gpt-4o"]]
    write_lines(log, _priced_call("gpt-4o-mini", 2))
    exporter.poll_once()
    exporter.close()
    names = [entry[1] for entry in json.loads(kept.read_bytes())["prices"]]
    assert names == ["gpt-4o", "gpt-4o-mini"]


def test_the_cache_keeps_at_most_max_kept_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_cache, "MAX_KEPT", 3)
    book = PriceBook(kept_in=tmp_path)
    assert [book.lookup("openai", f"made-up-{i}") for i in range(5)] == [None] * 5  # all priced still
    book.save()
    kept = json.loads((tmp_path / "prices.json").read_bytes())["prices"]
    assert [entry[1] for entry in kept] == ["made-up-0", "made-up-1", "made-up-2"]
