"""Errors a caller can fix, shared by every entrypoint.

Each carries a machine-readable `code` and the HTTP `status` it maps to, so
Flask, Cerebrium, Gradio and the CLIs report the same mistake the same way.
"""
import contextlib


class DigitError(ValueError):
    """Base class: bad input from the caller (never a bug on our side)."""

    code = "invalid_input"
    status = 400
    index = None  # position of the item at fault in a batch ("instances"), set by batch_item()

    def to_dict(self):
        error = {"code": self.code, "message": str(self)}
        if self.index is not None:
            error["index"] = self.index
        return {"error": error}


@contextlib.contextmanager
def batch_item(index):
    """A DigitError raised inside names batch item `index`, so a client with
    256 images learns which one is bad."""
    try:
        yield
    except DigitError as exc:
        exc.index = index
        raise


class InvalidInput(DigitError):
    code = "invalid_input"


class InvalidImage(DigitError):
    code = "invalid_image"


class NoDigitFound(DigitError):
    code = "no_digit_found"


class TooManyDigits(DigitError):
    """A picture to read as a number holds more marks or digits than a number has
    (config.MAX_DIGITS, READ_MAX_MARKS): a texture, noise or a page of text."""
    code = "too_many_digits"


class PayloadTooLarge(DigitError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(DigitError):
    code = "unsupported_media_type"
    status = 415


class ModelFileError(RuntimeError):
    """The model file is missing or does not match its recorded checksum."""
