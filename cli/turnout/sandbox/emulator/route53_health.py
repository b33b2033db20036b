"""Route 53 health checks that look at their endpoint, on loopback.

moto answers GetHealthCheckStatus with one fixed "Success" observation whatever the endpoint
does. AWS's health checkers open a TCP connection to the endpoint (4 s) and, for HTTP and HTTPS
checks, want a 2xx or 3xx status within 2 s of connecting
(https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
The patch probes the health check's endpoint when GetHealthCheckStatus is called and reports
what it saw, in AWS's words: only a loopback endpoint (IPAddress 127.0.0.1, or the FQDN
localhost) is probed; any other is reported as a failure, since the emulator reaches nothing off
the machine. Differences from AWS (docs/emulator.md): one observation from one checker instead
of one per checker region; the probe is made at the call, not every request_interval, and
failure_threshold does not smooth it.
"""

from __future__ import annotations

import http.client
import ssl
from typing import Any

CONNECT_SECONDS = 4.0
RESPONSE_SECONDS = 2.0
LOOPBACK = ("127.0.0.1", "localhost")


def probe(check: Any) -> str:
    """AWS's StatusReport.Status for one probe of a moto HealthCheck."""
    host = check.ip_address or check.fqdn or ""
    if host not in LOOPBACK:
        return f"Failure: the emulator probes loopback endpoints only, not {host or 'none'}."
    kind = (check.type_ or "HTTP").upper()
    if kind.startswith("HTTPS"):
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, int(check.port), timeout=CONNECT_SECONDS, context=ssl._create_unverified_context()
        )
    else:
        connection = http.client.HTTPConnection(host, int(check.port), timeout=CONNECT_SECONDS)
    try:
        connection.connect()
        if kind == "TCP":
            return "Success: TCP connection established."
        connection.sock.settimeout(RESPONSE_SECONDS)
        connection.request("GET", check.resource_path or "/", headers={"Host": check.fqdn or host})
        response = connection.getresponse()
        status = f"HTTP Status Code {response.status}, {response.reason}"
        return ("Success: " if 200 <= response.status < 400 else "Failure: ") + status
    except TimeoutError:
        return "Failure: Connection timed out."
    except OSError as problem:
        return f"Failure: Connection refused or reset ({type(problem).__name__})."
    finally:
        connection.close()


def probe_health_check_endpoints() -> None:
    """Patch moto's GetHealthCheckStatus (in this process) to probe the endpoint."""
    from moto.core.responses import ActionResult
    from moto.core.utils import utcnow
    from moto.route53.responses import Route53

    def get_health_check_status(self: Any) -> ActionResult:
        check = self.backend.get_health_check(self._get_param("HealthCheckId"))
        status = probe(check)
        return ActionResult(
            {
                "HealthCheckObservations": [
                    {
                        "Region": "us-east-1",
                        "IPAddress": "127.0.0.1",
                        "StatusReport": {"Status": status, "CheckedTime": utcnow()},
                    }
                ]
            }
        )

    Route53.get_health_check_status = get_health_check_status
