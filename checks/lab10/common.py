"""Constants and helpers shared by the lab 10 checks (imported as ``checks.lab10.common``)."""

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
JWT_SECRET = "checks-only-secret-0123456789abcdef-0123456789"
TOKEN_TTL = 600
MAX_UPLOAD_BYTES = 20_000
CHUNK_ROWS = 25
SETTINGS_ENV = (
    "MODEL_DIR",
    "MAX_UPLOAD_BYTES",
    "BATCH_CHUNK_ROWS",
    "JWT_SECRET",
    "JWT_ALGORITHM",
    "TOKEN_TTL_SECONDS",
    "USERS",
    "RATE_LIMIT",
    "RATE_PERIOD",
)


class FakeClock:
    """A clock the checks move by hand: the rate limiter's time without sleeping."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
