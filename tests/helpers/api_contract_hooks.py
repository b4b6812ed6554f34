"""Schemathesis hooks for tests/serving/test_api_contract.py (loaded through SCHEMATHESIS_HOOKS).

Schemathesis's positive_data_acceptance fails any 400 to a request that matches the schema. Some
refusals no JSON Schema can rule out, and the document describes them instead: an image that does
not decode or shows no digit (or, to /read, more digits than a number has), and a V2 tensor whose `data` does not hold what its `shape` counts.
`documented_refusals_only` is that check with those refusals let through, and nothing else: a
schema-valid request refused for any other reason still fails the run.
"""
import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mnist_digits.serving.openapi_spec import CONTENT_REFUSALS, READ_CONTENT_REFUSALS

# The V2 sentences (mnist_digits/serving/kserve_v2.py, decoding, preprocessing) of the refusals that
# the infer operation's 400 response describes; V2 errors are a bare sentence, with no code.
V2_DESCRIBED = re.compile(
    r"shape must be|batch size must be|values for a shape|elements for shape|bytes of binary data"
    r"|binary_data_size|malformed binary|data must be a list of numbers|the image|no digit found")


def described_refusal(case, response):
    """Whether a 400 to this schema-valid request is one of the refusals the document describes."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    if case.operation.path.startswith("/v2/"):
        return isinstance(error, str) and V2_DESCRIBED.search(error) is not None
    codes = READ_CONTENT_REFUSALS if case.operation.path == "/read" else CONTENT_REFUSALS
    return isinstance(error, dict) and error.get("code") in codes


@schemathesis.check
def documented_refusals_only(ctx, response, case):
    """positive_data_acceptance, less the 400s the document describes for schema-valid requests."""
    meta = case.meta
    if (response.status_code == 400 and meta is not None and meta.generation.mode.is_positive
            and described_refusal(case, response)):
        return None
    return positive_data_acceptance(ctx, response, case)
