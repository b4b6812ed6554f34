"""The REST API's stack: server, WSGI bridge, probes, metrics and logs, keys, docs, V2."""
