"""Webhook targets: the SSRF guard on endpoint URLs (data access, API and CLI share it) and URL redaction."""

from __future__ import annotations

import pytest

from connectors.erp.models import WebhookEndpointUpdate
from connectors.erp.subscriptions import create_endpoint, list_endpoints, update_endpoint
from connectors.erp.targets import TargetError, check_target, redact_url
from tests.helpers.erp_factories import endpoint_spec

PRIVATE = ["http://127.0.0.1:9/erp", "http://localhost:8080/", "http://LOCALHOST./x", "http://api.localhost/x",
           "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://169.254.169.254/latest",
           "http://[::1]/", "http://[fe80::1]/", "http://[fd00::1]/", "http://[::ffff:10.0.0.1]/",
           "http://0.0.0.0/", "http://100.64.1.1/", "http://224.0.0.1/", "http://240.0.0.1/"]


@pytest.mark.parametrize("url", PRIVATE)
def test_private_and_loopback_targets_are_refused(url):
    with pytest.raises(TargetError, match="ALLOW_PRIVATE_TARGETS"):
        check_target(url, allow_private=False)
    check_target(url, allow_private=True)


def test_public_addresses_pass_and_names_are_resolved():
    check_target("https://93.184.216.34/erp", allow_private=False)
    check_target("http://[2606:4700::1111]/erp", allow_private=False)
    # "localhost" by a name the special case does not catch: what the name resolves to decides
    def resolve_to(address):
        return lambda host, port, **kw: [(2, 1, 6, "", (address, port))]

    check_target("https://erp.example.com/x", allow_private=False, resolve=resolve_to("93.184.216.34"))
    with pytest.raises(TargetError, match=r"non-public address \(10\.9\.8\.7\)"):
        check_target("https://erp.example.com/x", allow_private=False, resolve=resolve_to("10.9.8.7"))

    def unresolvable(host, port, **kw):
        raise OSError("Name or service not known")

    with pytest.raises(TargetError, match="does not resolve"):
        check_target("https://nowhere.invalid/x", allow_private=False, resolve=unresolvable)


def test_data_access_refuses_private_urls_by_default(db):
    before = len(list_endpoints(db, limit=10_000))
    with pytest.raises(TargetError):
        create_endpoint(db, endpoint_spec("http://127.0.0.1:9/erp"))
    assert len(list_endpoints(db, limit=10_000)) == before
    created = create_endpoint(db, endpoint_spec("https://93.184.216.34/erp"))
    with pytest.raises(TargetError):
        update_endpoint(db, created.id, WebhookEndpointUpdate.model_validate({"url": "http://[::1]:9/"}))
    assert update_endpoint(db, created.id, WebhookEndpointUpdate(enabled=False)) is not None  # no URL: no check
    moved = update_endpoint(db, created.id, WebhookEndpointUpdate.model_validate({"url": "http://10.0.0.2/"}),
                            allow_private_targets=True)
    assert moved is not None and moved.url == "http://10.0.0.2/"


def test_redact_url_drops_user_info_and_query():
    assert redact_url("https://ops:hunter2@erp.example.com:8443/hooks/in?token=s3cret#frag") == \
        "https://erp.example.com:8443/hooks/in?..."
    assert redact_url("http://127.0.0.1:9/erp") == "http://127.0.0.1:9/erp"
    assert redact_url("http://token@[::1]:9/x") == "http://[::1]:9/x"
