"""Behind a corporate proxy and its TLS inspection: a real forward proxy (Debian's
tinyproxy), an HTTPS server whose certificate comes from a private CA (trustme), and
the environment variables analysts set once for every tool. Everything on 127.0.0.1.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import run

from segment_magics import SegmentClient
from segment_magics.client import Outbox
from segment_magics.errors import ValidationError

TINYPROXY = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
pytestmark = pytest.mark.skipif(
    not Path(TINYPROXY).exists(), reason="tinyproxy is not installed (make test installs it)"
)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "REQUESTS_CA_BUNDLE",
                   "SSL_CERT_FILE", "CURL_CA_BUNDLE")  # fmt: skip
SECRET = "pr0xy-Pa55word-7c1e"


class Proxy:
    """tinyproxy in the foreground; ``seen`` lists the requests it was asked to forward."""

    def __init__(self, where: Path, port: int, auth: tuple[str, str] | None = None) -> None:
        self.log = where / "tinyproxy.log"
        conf = where / "tinyproxy.conf"
        lines = [f"Port {port}", "Listen 127.0.0.1", "Timeout 30", f'LogFile "{self.log}"',
                 "LogLevel Info", "MaxClients 50", "Allow 127.0.0.1"]  # fmt: skip
        if auth:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        conf.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen([TINYPROXY, "-d", "-c", str(conf)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while "listening" not in self._log().lower() and "accepting" not in self._log().lower():
            assert time.monotonic() < deadline and self.process.poll() is None, self._log()
            time.sleep(0.05)

    def _log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def seen(self) -> list[str]:
        return [line.split("): ", 1)[1] for line in self._log().splitlines()
                if "Request (file descriptor" in line]  # fmt: skip

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


@pytest.fixture
def proxy(tmp_path):
    started = Proxy(tmp_path, _free_port())
    yield started
    started.stop()


@pytest.fixture
def locked_proxy(tmp_path):
    started = Proxy(tmp_path, _free_port(), auth=("analyst", SECRET))
    yield started
    started.stop()


class TlsServer:
    """A Segment-like endpoint over HTTPS, its certificate signed by a private CA."""

    def __init__(self, where: Path) -> None:
        import trustme

        self.ca = trustme.CA()
        self.ca_file = where / "company-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        certificate = self.ca.issue_cert("localhost", "127.0.0.1")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        certificate.configure_cert(context)
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body)
                outer.received.extend(payload.get("batch", [payload]))
                answer = b'{"success": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"https://localhost:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_server(tmp_path):
    server = TlsServer(tmp_path)
    yield server
    server.stop()


def _ids(received) -> set[str]:
    return {m["messageId"] for m in received}


# -- the environment, with requests' rules -------------------------------------------------
@pytest.mark.parametrize("name", ["HTTP_PROXY", "http_proxy"])
def test_http_proxy_from_the_environment_carries_the_calls(name, proxy, collector, monkeypatch):
    monkeypatch.setenv(name, proxy.url)
    client = SegmentClient(endpoint=collector.url, write_key="k")
    result = client.track("Proxied", user_id="u")
    assert result.ok, result.error_message
    assert any(line.startswith(f"POST {collector.url}/v1/track") for line in proxy.seen)
    assert [e["event"] for e in collector.events()] == ["Proxied"]


@pytest.mark.parametrize("name", ["NO_PROXY", "no_proxy"])
def test_no_proxy_sends_loopback_directly(name, proxy, collector, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv(name, "127.0.0.1,localhost")
    client = SegmentClient(endpoint=collector.url, write_key="k")
    assert client.track("Direct", user_id="u").ok
    assert proxy.seen == [] and collector.count() == 1


def test_https_goes_through_the_proxy_with_connect_and_the_company_ca(
    proxy, tls_server, monkeypatch, outbox_path
):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_file))
    client = SegmentClient(endpoint=tls_server.url, write_key="k")
    single = client.track("Secure", user_id="u")
    bulk = client.send_many([{"type": "track", "event": "Bulk", "userId": f"u{i}"}
                             for i in range(300)], progress=False)  # fmt: skip
    assert single.ok and bulk.ok and bulk.accepted == 300
    assert proxy.seen and all(line.startswith(f"CONNECT localhost:{tls_server.port}")
                              for line in proxy.seen)  # fmt: skip
    assert len(_ids(tls_server.received)) == 301


@pytest.mark.parametrize("how", ["setting", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_the_ca_bundle_comes_from_the_setting_or_the_environment(how, tls_server, monkeypatch):
    kwargs = {}
    if how == "setting":
        kwargs["ca_bundle"] = str(tls_server.ca_file)
    else:
        monkeypatch.setenv(how, str(tls_server.ca_file))
    client = SegmentClient(endpoint=tls_server.url, write_key="k", **kwargs)
    assert client.track("Trusted", user_id="u").ok


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"ca_bundle": "/no/such/ca.pem"}, "ca_bundle: '/no/such/ca.pem' does not exist"),
        ({"ca_bundle": __file__}, "holds no PEM certificate"),
        ({"proxy": "not a url"}, "proxy: 'not a url' is not a proxy URL; use e.g."),
        ({"proxy": "http://proxy.example:31x8"}, "the port is not a number"),
        ({"proxy": "socks5://127.0.0.1:1080"}, "a SOCKS proxy needs PySocks"),
    ],
)
def test_a_bad_proxy_or_ca_setting_is_refused_when_the_client_is_made(settings, words):
    """Not at the first request, as 'connection broken' or 'host unreachable'."""
    if "socks" in str(settings) and importlib.util.find_spec("socks") is not None:
        pytest.skip("PySocks is installed: a SOCKS proxy is fine")
    with pytest.raises(ValidationError, match=re.escape(words)):
        SegmentClient(endpoint="https://api.segment.io", write_key="k", **settings)


def test_a_bad_environment_is_named_by_its_variable(tls_server, monkeypatch, collector):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/no/such/ca.pem")
    with pytest.raises(ValidationError, match=r"^\$REQUESTS_CA_BUNDLE: '/no/such/ca.pem' does"):
        SegmentClient(endpoint=tls_server.url, write_key="k")
    assert SegmentClient(endpoint=collector.url, write_key="k").track("Plain", user_id="u").ok
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_file))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:notaport")
    with pytest.raises(ValidationError, match=r"HTTPS_PROXY.*the port is not a number"):
        SegmentClient(endpoint=tls_server.url, write_key="k")


def test_an_untrusted_certificate_gets_one_line_naming_the_setting_and_is_kept(
    tls_server, outbox_path
):
    client = SegmentClient(endpoint=tls_server.url, write_key="k", max_retries=0)
    result = client.track("Inspected", user_id="u")
    assert not result.ok and tls_server.received == []
    assert "ca_bundle" in result.error_message and "REQUESTS_CA_BUNDLE" in result.error_message
    assert "\n" not in result.error_message and "Traceback" not in result.error_message
    assert Outbox(outbox_path).count() == 1  # nothing lost: it waits for the fix
    fixed = SegmentClient(endpoint=tls_server.url, write_key="k",
                          ca_bundle=str(tls_server.ca_file))  # fmt: skip
    assert fixed.retry_outbox().accepted == 1
    assert _ids(tls_server.received) == {result.message_id}


def test_the_proxy_setting_overrides_the_environment(proxy, collector, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    client = SegmentClient(endpoint=collector.url, write_key="k", proxy=proxy.url)
    assert client.track("Chosen", user_id="u").ok
    assert len(proxy.seen) == 1
    direct = SegmentClient(endpoint=collector.url, write_key="k", proxy="direct")
    assert direct.track("Direct", user_id="u").ok and len(proxy.seen) == 1


# -- a proxy that asks for credentials -------------------------------------------------------
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_407_gets_one_line_and_credentials_are_never_shown(
    scheme, locked_proxy, collector, tls_server, outbox_path
):
    target = collector.url if scheme == "http" else tls_server.url
    tls = {"ca_bundle": str(tls_server.ca_file)} if scheme == "https" else {}
    refused = SegmentClient(endpoint=target, write_key="k", proxy=locked_proxy.url,
                            max_retries=0, **tls)  # fmt: skip
    result = refused.track("Locked", user_id="u")
    assert not result.ok and "407" in result.error_message
    assert "proxy" in result.error_message and "\n" not in result.error_message
    assert Outbox(outbox_path).pending()[0].state == "pending"  # kept, not "rejected"
    with_credentials = locked_proxy.url.replace("http://", f"http://analyst:{SECRET}@")
    allowed = SegmentClient(endpoint=target, write_key="k", proxy=with_credentials, **tls)
    sent = allowed.track("Unlocked", user_id="u")
    assert sent.ok, sent.error_message
    shown = repr(allowed) + str(sent) + sent._repr_html_() + repr(allowed._transport.settings)
    assert SECRET not in shown and SECRET not in str(allowed.history.select().records())


def test_the_magics_settings_hide_proxy_credentials(locked_proxy, make_shell, collector):
    shell = make_shell(collector.url)
    with_credentials = locked_proxy.url.replace("http://", f"http://analyst:{SECRET}@")
    assert run(shell, f"%config SegmentMagics.proxy = '{with_credentials}'").error is None
    sent = run(shell, "%segment_track Configured --user-id u")
    assert sent.error is None, sent.error
    assert any("POST" in line for line in locked_proxy.seen)
    shown = run(shell, "%config SegmentMagics").text + sent.text + sent.html
    assert SECRET not in shown
    assert shell.run_line_magic("config", "SegmentMagics.proxy") == locked_proxy.url


def test_the_public_api_goes_through_the_proxy(proxy, make_shell, collector, monkeypatch):
    from public_api_server import PublicApiServer

    api = PublicApiServer()
    url = api.start()
    try:
        api.add_plan("tp_proxied", "Proxied", [])
        monkeypatch.setenv("SEGMENT_PUBLIC_API_TOKEN", api.token)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        shell = make_shell(collector.url)
        run(shell, f'%config SegmentMagics.public_api = "{url}"')
        cell = run(shell, "%segment_plan pull tp_proxied")
        assert cell.error is None, cell.error
        assert any(line.startswith(f"GET {url}/tracking-plans/tp_proxied") for line in proxy.seen)
    finally:
        api.stop()


def test_dask_workers_reach_segment_the_way_the_notebook_does(proxy, collector, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import dask.dataframe as dd
    import pandas as pd

    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")  # fmt: skip
    try:
        with distributed.Client(cluster):
            monkeypatch.setenv("HTTP_PROXY", proxy.url)  # set after the workers started
            client = SegmentClient(endpoint=collector.url, write_key="k")
            frame = pd.DataFrame({"userId": [f"u{i}" for i in range(200)], "n": range(200)})
            result = client.send_many(dd.from_pandas(frame, npartitions=2), "track",
                                      event="Distributed", progress=False)  # fmt: skip
            assert result.ok and result.accepted == 200, result.error_message
            assert any(line.startswith(f"POST {collector.url}/v1/batch") for line in proxy.seen)
    finally:
        cluster.close()
