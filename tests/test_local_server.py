"""local_server.py: the free port and server start/stop every real-server test and benchmark uses."""
import socket

import pytest

from helpers.local_server import free_port, start_server


def test_free_port_can_be_bound():
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.process
def test_a_server_that_exits_at_once_is_reported_with_its_own_words(tmp_path):
    port = free_port()
    with open(tmp_path / "server.log", "w") as log, pytest.raises(RuntimeError) as info:
        start_server(["flask_deploy.py", "--port", "not-a-port"], port, log=log, timeout_s=60)
    message = str(info.value)
    assert "exited with status 2" in message and "usage:" in message, message
