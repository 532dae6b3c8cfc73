"""Each policy threshold says where it comes from (a field on the policy check), and NOT PROVIDED
where nobody gave one."""

from __future__ import annotations

import layout
import pytest
import reports_pack_factory as factory
from conftest import render

from governance.common.errors import ValidationFailed
from governance.workflow.gates import clean_checks

FOUR_FIFTHS = "29 CFR 1607.4(D) (four-fifths rule, US employment practice)"


def test_policy_checks_carry_source_and_justification():
    checks = clean_checks(
        [
            {
                "kind": "fairness",
                "metric": "disparate_impact_ratio",
                "comparator": ">=",
                "threshold": "0.8",
                "source": FOUR_FIFTHS,
                "justification": "Adopted as a screening level for credit; not a legal standard under ECOA.",
            },
            {"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": "0.7"},
        ]
    )
    assert checks[0]["source"] == FOUR_FIFTHS and "justification" in checks[0]
    assert "source" not in checks[1]
    with pytest.raises(ValidationFailed, match=r"checks\[0\]\.source"):
        clean_checks([{"kind": "performance", "metric": "auc", "comparator": ">=", "threshold": "0.7", "source": 7}])


def test_the_pack_prints_the_source_or_not_provided(tmp_path_factory):
    pack = factory.make_pack("eu-ai-act")
    pack["policy"]["checks"][0]["source"] = FOUR_FIFTHS
    pack["policy"]["checks"][0]["justification"] = "Screening level for credit."
    rendered = render(tmp_path_factory, pack, "threshold-source")
    rows = layout.table_rows(rendered.path)
    first, others = pack["policy"]["checks"][0]["id"], {c["id"] for c in pack["policy"]["checks"][1:]}
    sourced = [row[4] for row in rows if len(row) == 5 and row[0] == first]
    missing = [row[4] for row in rows if len(row) == 5 and row[0] in others]
    assert sourced and all(s.startswith("29 CFR 1607.4(D)") and "Screening level" in s for s in sourced)
    assert missing and all(s.startswith("NOT PROVIDED: nobody gave one") for s in missing)
