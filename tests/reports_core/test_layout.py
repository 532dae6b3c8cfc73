"""Layout read back with pdfplumber: no text outside the margins, no overprinted words, no word
across a table cell border, and numbers bounded by the configured significant digits."""

from __future__ import annotations

import copy

import layout
import pytest
import reports_pack_factory as factory
from conftest import render

from governance.reports import numbers


@pytest.fixture(scope="module", params=[("sr11-7", 40, 60), ("eu-ai-act", 2, 3), ("eu-ai-act", 40, 60)])
def worst(request, tmp_path_factory):
    regime, groups, features = request.param
    pack = factory.worst_case(factory.make_pack(regime), groups=groups, features=features)
    return render(tmp_path_factory, pack, f"worst-{regime}-{groups}-{features}")


def test_full_packs_have_no_layout_defect(full):
    assert layout.problems(full.path, max_digits=numbers.digits()) == []


def test_worst_cases_have_no_layout_defect(worst):
    assert layout.problems(worst.path, max_digits=numbers.digits()) == []


def test_worst_cases_print_counts_with_separators_and_tiny_p_values_bounded(worst):
    text = worst.text
    assert "9,876,543,210" in text
    if any(len(ev.get("features") or []) > 5 for ev in worst.pack["evaluations"]):
        assert "< 0.0001" in text
        assert "1,234,567,891" in text
    assert "0.3244444444444444" not in worst.compact
    assert "0.7391304347826086" not in worst.compact


def test_the_checker_catches_an_overprinted_number(tmp_path_factory, monkeypatch):
    """The check can fail: with the number rule switched off, the 17-digit rates overprint."""
    monkeypatch.setattr(numbers, "measured", repr)
    pack = factory.worst_case(factory.make_pack("sr11-7"), groups=2, features=3)
    rendered = render(tmp_path_factory, copy.deepcopy(pack), "unformatted")
    found = layout.problems(rendered.path, max_digits=numbers.digits())
    assert any("significant digits" in p for p in found)


@pytest.mark.parametrize(
    "value, text",
    [
        (0.7391304347826086, "0.7391"),
        (0.3244444444444444, "0.3244"),
        (0.0, "0"),
        (1.0, "1"),
        (123456.789, "123,500"),
        (1234.5678, "1,235"),
        (0.000012345, "1.234e-5"),
        (-0.08358, "-0.08358"),
    ],
)
def test_measured_values_follow_the_rule(value, text):
    assert numbers.measured(value) == text


def test_p_values_counts_and_thresholds():
    assert numbers.p_value(0.00001) == "< 0.0001"
    assert numbers.p_value(0.0001) == "0.0001"
    assert numbers.p_value(0.5600000001) == "0.56"
    assert numbers.count(1234567890) == "1,234,567,890"
    assert numbers.threshold(0.05) == "0.05"
    assert numbers.threshold("0.80") == "0.80"


def test_the_digits_are_a_setting(settings):
    settings.PACK_SIGNIFICANT_DIGITS = 2
    assert numbers.measured(0.7391304347826086) == "0.74"
