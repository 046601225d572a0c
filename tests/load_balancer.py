"""HAProxy in front of service replicas, for the scale-out tests and `bench throughput`:
round robin, health-checked on /health/live, streaming without delay."""

from __future__ import annotations

HAPROXY_CONFIG = """global
    maxconn 4096
defaults
    mode http
    option http-no-delay  # stream tokens as they come: no waiting to fill segments
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    option redispatch
    retries 2
frontend chatbot
    bind 127.0.0.1:{lb_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk GET /health/live
    default-server inter 300ms fall 2 rise 1
    http-response set-header X-Replica %[srv_name]
{servers}
"""


def haproxy_config(lb_port: int, replicas: dict[str, int]) -> str:
    """The configuration for replicas (name -> port on loopback) behind 127.0.0.1:lb_port."""
    servers = "\n".join(f"    server {name} 127.0.0.1:{port} check" for name, port in replicas.items())
    return HAPROXY_CONFIG.format(lb_port=lb_port, servers=servers)
