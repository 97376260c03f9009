"""Class: recipients and withheld categories. Each job reaches only the recipients the policy
ties to it (a provider's tags never go to a media party as a profile), and a category withheld
for having fewer than k people is withheld with its name.

Attack (issue 9, item 6): address a profile of the provider's tags to a media party (recipients
were tied to release kinds only), and read which rare category names a profile withheld.
"""

from __future__ import annotations

import json

import pandas as pd

from tests.privacy.common import build_world


def test_a_profile_goes_to_the_requester_only(tmp_path, live):
    w = build_world(tmp_path, live, {}, k_min=20, n_targets=20)
    w.upload([{"phone": p, "lead_no": i} for i, p in enumerate(w.lead_pool[:400])])
    oem, sid = w.session()
    to_media = w.released(oem, sid, "profile", {"segment": {"lead_no": {"max": 199}}, "recipient": "media-a"})
    assert (
        to_media["status"] == "refused"
        and "recipient" in to_media["error"]
        and "'media-a'" in to_media["error"]
    )
    assert to_media["payload"] is None
    # the same profile to the requester passes: the refusal was about the recipient alone
    own = w.released(oem, sid, "profile", {"segment": {"lead_no": {"max": 199}}})
    assert own["status"] == "pending"


def test_withheld_categories_lose_their_names(tmp_path, live):
    def rare(root):  # 5 of the provider's people (k = 20) are tagged "zz-rare"
        prov = pd.read_csv(root / "provider.csv", dtype=str)
        prov.loc[prov.index[:5], "segment"] = "zz-rare"
        prov.to_csv(root / "provider.csv", index=False)

    w = build_world(tmp_path, live, {"dp": {"enabled": False}}, k_min=20, n_targets=20, edit=rare)
    w.upload([{"phone": p, "lead_no": i} for i, p in enumerate(w.lead_pool[:400])])
    oem, sid = w.session()
    info = w.released(oem, sid, "profile", {"segment": {"lead_no": {"max": 199}}, "tags": ["segment"]})
    assert info["status"] == "pending", info
    [tag] = info["payload"]["tags"]
    assert tag["withheld"] >= 1
    assert "zz-rare" not in json.dumps(info["payload"])
    assert {c["category"] for c in tag["categories"]} <= {"a", "b", "c", "(unknown)"}
