"""What the scripts at the repo root share, in folders by job:

    imaging/   pictures in: decoding any image, preprocessing it to MNIST's 28x28, request payloads
    model/     the model: runners per backend, the shared predictor, calibration, batching
    gate/      the digit gate ("is this a digit at all?") and the examples it learns from
    datasets/  the real handwriting beyond MNIST (other writers' digits, real non-digits) and its split
    reading/   reading a whole handwritten number ("2026"): finding its digits, cutting touching ones
    serving/   the REST API's stack: server, WSGI bridge, probes, metrics and logs, keys, docs, V2
"""
