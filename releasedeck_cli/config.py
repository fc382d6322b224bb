"""Where the client finds the server and its token: the environment first, then the user's
config file ($XDG_CONFIG_HOME/releasedeck/config.toml, else ~/.config/releasedeck/config.toml),
which holds a secret and so is written readable by its owner only."""

import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import CliError, Exit

URL_VARIABLE = "RELEASEDECK_URL"
TOKEN_VARIABLE = "RELEASEDECK_TOKEN"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "releasedeck" / "config.toml"


def read_file(path: Path | None = None) -> dict[str, str]:
    path = path or config_path()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"Cannot read {path}: {exc}", Exit.USAGE) from exc
    return {k: v for k, v in data.items() if k in ("url", "token") and isinstance(v, str)}


def load(url: str | None = None, token: str | None = None) -> Settings:
    """Options given on the command line, else the environment, else the config file."""
    stored = read_file()
    url = url or os.environ.get(URL_VARIABLE) or stored.get("url")
    token = token or os.environ.get(TOKEN_VARIABLE) or stored.get("token")
    if not url:
        raise CliError(f"No server set: run `releasedeck login` or set {URL_VARIABLE}.", Exit.USAGE)
    if not token:
        raise CliError(f"No token: run `releasedeck login` or set {TOKEN_VARIABLE}.", Exit.AUTH)
    return Settings(url=normalise_url(url), token=token)


def normalise_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"The server URL must start with http:// or https://: {url}", Exit.USAGE)
    return url


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = "".join(
        "\\" + c if c in '"\\' else f"\\u{ord(c):04x}" if c < " " or c == "\x7f" else c
        for c in value
    )
    return f'"{escaped}"'


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write the file with mode 0600 (its directory 0700), replacing it whole."""
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = f"url = {toml_string(settings.url)}\ntoken = {toml_string(settings.token)}\n"
    # mkstemp creates the file 0600, so the token is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
