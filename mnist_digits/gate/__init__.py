"""The digit gate ("is this a digit at all?") and the examples it learns from."""
