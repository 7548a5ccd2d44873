"""Values of the settings file that read as settings but could not be used: each is refused
when the file is read, in one line naming the file, the key and what to give, rather than
failing a later run, losing a notification or quoting a secret."""

from __future__ import annotations

import pytest

from rosterflow.schemas.settings import SettingsError, load_settings, parse_settings

DAYS = "give a number of days from 0 (read at every run) to 36,500"


def refusal(raw: dict) -> str:
    with pytest.raises(SettingsError) as refused:
        parse_settings(raw, "s.toml")
    return str(refused.value)


@pytest.mark.parametrize(
    ("days", "message"),
    [
        (-1, f"[safety] lms_check_days = -1; {DAYS}"),
        ("7", f"[safety] lms_check_days = '7'; {DAYS}"),
        # a number of days past the calendar's end made the tenant's next sync fail
        # (OverflowError) and announce it as a failed run
        (float("inf"), f"[safety] lms_check_days = inf; {DAYS}"),
        (1e9, f"[safety] lms_check_days = 1000000000.0; {DAYS}"),
    ],
)
def test_lms_check_days_is_refused_as_days_not_as_a_share(days, message):
    assert refusal({"safety": {"lms_check_days": days}}) == f"s.toml: {message}"


def test_lms_check_days_takes_0_to_a_hundred_years():
    for days in (0, 0.5, 36_500):
        assert parse_settings({"safety": {"lms_check_days": days}}).safety.lms_check_days == days


@pytest.mark.parametrize(
    ("port", "bound"),
    [(0, "greater than or equal to 1"), (-25, "greater than or equal to 1"), (70_000, "less than or equal to 65535")],
)  # fmt: skip
def test_an_smtp_port_out_of_range_is_refused(port, bound):
    assert refusal({"notify": {"smtp_port": port}}) == (
        f"s.toml: [notify] smtp_port = {port}; give a number {bound}"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"hierarchy": {"org_base_courses": "true"}}, "[hierarchy] org_base_courses = 'true'; give true or false"),
        ({"source": {"page_size": 5.5}}, "[source] page_size = 5.5; give a whole number"),
        ({"notify": {"smtp_user": ["roster"]}}, "[notify] smtp_user = ['roster']; give text"),
        # a value that may be a secret, or a URL whose path is one, is not shown
        ({"notify": {"webhook": ["https://hooks.example/T0/SECRET"]}}, "[notify] webhook must be text"),
        ({"notify": {"smtp_password_env": ["SECRET"]}}, "[notify] smtp_password_env must be text"),
        ({"source": {"token_url": ["https://sis.example/token?SECRET"]}}, "[source] token_url must be text"),
        ({"source": {"client_secret_env": ["SECRET"]}}, "[source] client_secret_env must be text"),
        ({"source": {"client_secret_file": ["SECRET"]}}, "[source] client_secret_file must be text"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_shown_unless_it_may_be_a_secret(raw, message):
    assert refusal(raw) == f"s.toml: {message}"
    assert "SECRET" not in message


@pytest.mark.parametrize(
    "webhook",
    [
        # urllib refused these when a run was held, quoting the path (the webhook's secret)
        # into the warning on stderr and in the log
        "https://hooks.example.org/services/T0/SE CRET",
        "https://hooks.example.org/services/T0/SECRET\n",
        "https://hooks.example.org/services/T0/SE\tCRET",
    ],
)
def test_a_webhook_with_a_space_or_a_control_character_is_refused_unseen(webhook):
    message = refusal({"notify": {"webhook": webhook}})
    assert message == (
        "s.toml: [notify] webhook = 'https://hooks.example.org' followed by a path not shown: "
        "the URL holds a space or a control character; give it as the webhook service shows "
        "it (a space written %20)"
    )


@pytest.mark.parametrize(
    ("webhook", "shown"),
    [
        ("https://", "'https://'"),
        ("https://hooks.example.org:99999/T0/SECRET", "'https://hooks.example.org:99999' followed by a path not shown"),
        ("https://hooks.example.org:port/T0/SECRET", "'https://hooks.example.org:port' followed by a path not shown"),
        ("https://hooks.example.org:0/T0/SECRET", "'https://hooks.example.org:0' followed by a path not shown"),
        ("https://[::1/T0/SECRET", "'https://[::1' followed by a path not shown"),
    ],
)  # fmt: skip
def test_a_webhook_without_a_host_or_with_a_bad_port_is_refused(webhook, shown):
    assert refusal({"notify": {"webhook": webhook}}) == (
        f"s.toml: [notify] webhook = {shown}: no host, or a port that is no number from 1 to "
        "65535; give an http:// or https:// URL such as https://hooks.example.org/..."
    )


def test_a_webhook_with_a_port_or_an_ip_address_is_taken():
    for webhook in (
        "http://127.0.0.1:8080/hook",
        "https://[::1]:8443/hook",
        "https://h.example",
        "HTTPS://H.EXAMPLE/hook",  # a scheme in capitals is the same scheme
        "https://prod-00.westus.logic.azure.com:443/workflows/a/invoke?api-version=1&sig=x%2F",
    ):
        assert parse_settings({"notify": {"webhook": webhook}}).notify.webhook == webhook


@pytest.mark.parametrize(
    "email",
    ["data team", "a@b c@d", "a@b; c@d", "a@b,,c@d", " , ", "a@", "a@b\nBcc: spy@elsewhere"],
)
def test_recipients_that_are_no_mail_addresses_are_refused(email):
    # (accepted, they lost the mail of the first run held, long after the file was written)
    assert refusal({"notify": {"email": email}}) == (
        f"s.toml: [notify] email = {email!r}; give mail addresses separated by commas, such "
        'as "data-team@district.example, it@district.example"'
    )


@pytest.mark.parametrize(
    "email",
    ["x@y", "a@b.org, c@d.org", '"Doe, Jo" <jo@d.org>, it@d.org', "Data Team <dt@d.org>"],
)
def test_recipients_are_addresses_with_or_without_a_name(email):
    assert parse_settings({"notify": {"email": email}}).notify.email == email


@pytest.mark.parametrize("sender", ["", "rosterflow", "a@b, c@d"])
def test_a_sender_that_is_not_one_address_is_refused(sender):
    assert refusal({"notify": {"smtp_from": sender}}) == (
        f"s.toml: [notify] smtp_from = {sender!r}; give one mail address, such as "
        '"rosterflow@district.example"'
    )


@pytest.mark.parametrize("host", ["", "  ", "smtp example.org"])
def test_an_smtp_host_that_names_no_server_is_refused(host):
    # smtplib connected to nothing for "", and failed saying "please run connect() first"
    assert refusal({"notify": {"smtp_host": host}}) == (
        f"s.toml: [notify] smtp_host = {host!r}; give the SMTP server's name or address "
        "(default localhost)"
    )


def test_an_empty_secret_variable_name_is_refused():
    assert refusal({"notify": {"smtp_password_env": ""}}) == (
        "s.toml: [notify] smtp_password_env is empty; name the environment variable that "
        "holds the SMTP password (default ROSTERFLOW_SMTP_PASSWORD)"
    )
    assert refusal({"source": {"client_secret_env": " "}}) == (
        "s.toml: [source] client_secret_env is empty; name the environment variable that "
        "holds the client secret (default ROSTERFLOW_CLIENT_SECRET), or the file "
        "(client_secret_file)"
    )


def test_a_file_saved_with_a_byte_order_mark_is_read(tmp_path):
    # Windows' Notepad saved UTF-8 with one: "not a readable TOML file (Invalid statement)"
    path = tmp_path / "s.toml"
    path.write_bytes(b'\xef\xbb\xbf[safety]\nmax_removal_share = 0.3\n[policy]\nusers = "keep"\n')
    settings = load_settings(path)
    assert (settings.safety.max_removal_share, settings.policy.users) == (0.3, "keep")
