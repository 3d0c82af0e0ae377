"""One list of secret URL parameters, honoured by every place that shows or keeps a URL."""

from __future__ import annotations

import pytest

from civittui.civitai.urls import parse_url
from civittui.redact import (
    SECRET_PARAMS,
    Redactor,
    has_secret_param,
    mask_secret_params,
    strip_secret_params,
)
from civittui.sidecars import version_meta
from civittui.state.records import check_no_secrets


@pytest.mark.parametrize("name", sorted(SECRET_PARAMS) + ["TOKEN", "Api_Key"])
def test_every_secret_parameter_is_hidden_everywhere(name: str) -> None:
    link = f"https://civitai.com/api/download/models/7?type=Model&{name}=s3cr3tvalue"

    assert has_secret_param(link)
    assert "s3cr3tvalue" not in mask_secret_params(link)
    assert "s3cr3tvalue" not in Redactor(())(f"GET {link} failed")
    assert strip_secret_params(link) == "https://civitai.com/api/download/models/7?type=Model"
    # what the URL box keeps, what a meta file keeps, what the state refuses
    assert "s3cr3tvalue" not in parse_url(f"https://civitai.com/models/5?{name}=s3cr3tvalue").url
    meta = version_meta({"id": 7, "downloadUrl": link}, {"id": 5})
    assert "s3cr3tvalue" not in str(meta)
    with pytest.raises(ValueError, match="secret"):
        check_no_secrets({"url": link}, "setting")


def test_ordinary_parameters_are_kept() -> None:
    link = "https://civitai.com/api/download/models/7?type=Model&format=SafeTensor"
    assert not has_secret_param(link)
    assert mask_secret_params(link) == link == strip_secret_params(link)
    assert not has_secret_param("monkey=1&keys=2")  # names are whole, not prefixes
