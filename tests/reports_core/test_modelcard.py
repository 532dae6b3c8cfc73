"""Model card (MCT v0.0.2) and datasheets."""

from __future__ import annotations

import json

import reports_pack_factory as factory

from governance.reports.modelcard import datasheet, datasheets, model_card


def test_model_card_has_mct_top_level_keys_and_metrics():
    pack = factory.make_pack("eu-ai-act")
    card = model_card(pack)
    assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= set(card)
    json.dumps(card)  # serialisable
    assert card["model_details"]["name"] == "German Credit Scorecard"
    assert card["model_details"]["version"]["name"] == "2.0"
    assert card["model_details"]["path"].endswith("model.skops")
    metrics = card["quantitative_analysis"]["performance_metrics"]
    by_type = {(m["type"], m["slice"]): m["value"] for m in metrics}
    assert by_type[("roc_auc", "performance:german-credit-holdout-2025Q4")] == "0.7912"
    assert by_type[("ks", "performance:german-credit-holdout-2025Q4")] == "0.4630"  # decimal string kept
    assert by_type[("selection_rate_ratio", "fairness:german-credit-holdout-2025Q4:age_band=under_25")] == "0.7839"
    assert {"model_architecture", "data", "input_format", "output_format"} <= set(card["model_parameters"])
    assert set(card["considerations"]) == {"users", "use_cases", "limitations", "tradeoffs", "ethical_considerations"}
    assert card["considerations"]["users"][0]["description"].startswith("[Intended users]")


def test_model_card_never_invents_considerations():
    pack = factory.variant(factory.make_pack("sr11-7"), narratives=False, evaluations=False)
    card = model_card(pack)
    assert all(v == [] for v in card["considerations"].values())
    assert card["quantitative_analysis"]["performance_metrics"] == []


def test_datasheet_groups():
    pack = factory.make_pack("sr11-7")
    sheet = datasheet(pack["datasets"][0], pack["narratives"])
    for group in (
        "motivation",
        "composition",
        "collection_process",
        "preprocessing",
        "uses",
        "distribution",
        "maintenance",
    ):
        assert group in sheet
    assert sheet["composition"]["rows"] == 1000
    assert sheet["collection_process"]["sha256"] == factory.h("train")
    assert sheet["collection_process"]["consent_and_ethical_review"] is None  # missing in the full pack
    assert sheet["motivation"].startswith("[Datasheet: motivation")
    assert len(datasheets(pack)) == 2
    assert datasheet(pack["datasets"][0])["uses"] is None
