"""The image's HEALTHCHECK: exit 0 when GET /healthz on this container answers 200, else 1.

Standard library only (slim images have no curl). Proxies are ignored so that an HTTP_PROXY set
for Hub downloads cannot divert the request. The last lines printed show in `docker inspect`.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("GRADIO_SERVER_PORT") or "7860"
    url = f"http://127.0.0.1:{port}/healthz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=8) as response:
            status, body = response.status, response.read(2000)
    except urllib.error.HTTPError as e:  # 503 while the models load
        print(f"unhealthy: {url} answered HTTP {e.code}")
        return 1
    except OSError as e:  # not listening yet, or hung
        print(f"unhealthy: {url}: {e}")
        return 1
    print(f"HTTP {status}: {body.decode('utf-8', 'replace')}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
