"""Gunicorn settings for the lab 10 service: ``gunicorn --config deploy/gunicorn.conf.py lab10.app:app``.

Gunicorn is the process manager: it starts ``workers`` processes, restarts one that dies or hangs, and
on SIGTERM stops taking connections and lets the workers finish what they are doing. Each worker runs
uvicorn (``uvicorn_worker.UvicornWorker``), the same server you develop with, so a request is handled
the same way on your laptop and in production. Notebook 10, section 10.5, explains every value.

Each value can be changed without rebuilding the image, through the environment variable named beside it.
"""

import os


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Where to listen. 0.0.0.0 inside a container (the port is published by `docker run -p`);
# to try it on your machine, bind to 127.0.0.1 instead: --bind 127.0.0.1:8000.
bind = f"0.0.0.0:{env_int('PORT', 8000)}"

# Worker processes. Predictions are CPU-bound and each worker holds its own copy of the models, so
# about one per CPU core the container may use; more only adds memory. WEB_CONCURRENCY is the usual name.
workers = env_int("WEB_CONCURRENCY", 2)
worker_class = "uvicorn_worker.UvicornWorker"

# A worker that does not report back for `timeout` seconds is stuck: it is killed and replaced.
# For a uvicorn worker this is a heartbeat of its event loop, NOT a limit per request: a slow client
# does not stop the heartbeat, so this never times one out (a model call that blocks the loop does).
timeout = env_int("WORKER_TIMEOUT", 60)
# On SIGTERM (docker stop, a rolling update) requests in flight get this long to finish. Keep it below
# the orchestrator's own grace period (docker stop: 10 s, Kubernetes: 30 s), or they get killed anyway.
graceful_timeout = env_int("GRACEFUL_TIMEOUT", 8)
# Seconds an idle keep-alive connection stays open (uvicorn's --timeout-keep-alive); a load balancer's
# idle timeout should be longer.
keepalive = env_int("KEEPALIVE", 5)

# Slow clients. The app answers 408 to a request body that has not arrived whole within
# BODY_TIMEOUT_SECONDS (30 s by default; labkit.validation_errors), so a client that sends its body
# slowly, or stops mid-body, cannot hold a connection for ever. Headers are another matter: uvicorn
# (0.54) has NO timeout for them. It starts no timer when a connection opens, and its keep-alive timer
# runs only between requests and is cancelled by the first byte that arrives, so a client that opens
# connections and trickles header bytes ("slowloris") keeps each one open indefinitely. In production,
# put a reverse proxy in front that reads whole headers (and buffers bodies) with its own timeouts
# (nginx: client_header_timeout, client_body_timeout, proxy_request_buffering on; a cloud load
# balancer does this for you) and forwards only complete requests to this server.

# Replace each worker after about this many requests (the jitter keeps them from restarting together):
# a slow memory leak in a library then never takes the service down.
max_requests = env_int("MAX_REQUESTS", 10_000)
max_requests_jitter = max(1, max_requests // 10)

# Each worker imports the app and loads the models in its own lifespan (the import loads nothing).
preload_app = False
# Trust X-Forwarded-For (the real client address, which the rate limiter keys on) only from these
# proxies. "*" is right only when nothing but your load balancer can reach the container.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Logs to stdout/stderr: the container runtime collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")

# Workers' heartbeat files in memory: on a slow container disk, writing them can make a healthy worker
# look stuck. (/dev/shm exists on Linux; elsewhere gunicorn's default temporary folder is used.)
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Gunicorn 25+ opens a control socket in $HOME for its `gunicornc` tool. The container's user has no
# home, and an orchestrator manages the service with signals, so: off.
control_socket_disable = True
