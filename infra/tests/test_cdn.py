"""CloudFront in front of the ALB: what the origin is told about the viewer's request."""

from __future__ import annotations

import hcl


def distribution() -> dict:
    found = hcl.modules()["cdn"].resources("aws_cloudfront_distribution")
    assert len(found) == 1, found
    return found[0][2]


def test_the_origin_hears_the_public_host_name_when_there_is_one():
    # Feed and sitemap links are absolute: without this they would name the ALB.
    origin = distribution()["origin"]
    origin = origin[0] if isinstance(origin, list) else origin
    dynamic = origin.get("dynamic", [])
    dynamic = dynamic if isinstance(dynamic, list) else [dynamic]
    headers = [d["custom_header"] for d in dynamic if "custom_header" in d]
    assert headers, "no dynamic custom_header on the origin"
    text = hcl.json_of(headers)
    assert "X-Forwarded-Host" in text and "var.domain_names[0]" in text, text
    assert "length(var.domain_names) > 0" in text, text
