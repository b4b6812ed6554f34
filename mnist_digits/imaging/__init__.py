"""Pictures in: decoding any image, preprocessing it to MNIST's 28x28, request payloads."""
