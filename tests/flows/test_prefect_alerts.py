"""The alert automation's command line, against the shared Prefect test server: a block not
saved yet is one line and exit 2, and running it again keeps one automation."""

from __future__ import annotations

import pytest

from rosterflow.flows.prefect_alerts import alert_automation, block_document_id, main

NAME = "rosterflow alerts, made twice"


def automations_named(name: str) -> list:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_automations_by_name(name=name)


@pytest.mark.flow
def test_a_block_not_saved_is_one_line_and_a_second_run_keeps_one_automation(capsys):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    assert main(["custom-webhook/never-saved", "--name", NAME]) == 2
    said = capsys.readouterr()
    assert said.err.startswith(
        "rosterflow: no block 'custom-webhook/never-saved' is saved on the Prefect server: "
        "save it first"
    )
    assert said.err.count("\n") == 1 and "Traceback" not in said.err
    assert main(["district-alerts", "--name", NAME]) == 2  # no type/name
    assert "name the block as type/name" in capsys.readouterr().err
    assert automations_named(NAME) == []

    CustomWebhookNotificationBlock(
        name="district", url="http://127.0.0.1:9/hook", json_data={"text": "{{body}}"}
    ).save("twice-alerts", overwrite=True)
    # two copies, as the earlier version made when run twice
    block = block_document_id("custom-webhook/twice-alerts")
    alert_automation(block, NAME).create()
    alert_automation(block, NAME).create()

    assert main(["custom-webhook/twice-alerts", "--name", NAME]) == 0
    assert main(["custom-webhook/twice-alerts", "--name", NAME]) == 0

    (kept,) = automations_named(NAME)
    assert f"automation {NAME!r} ({kept.id})" in capsys.readouterr().out
    assert kept.actions[0].block_document_id == block
    from prefect.automations import Automation

    Automation.read(id=kept.id).delete()
