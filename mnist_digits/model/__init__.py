"""The model: runners per backend, the shared predictor, calibration, batching."""
