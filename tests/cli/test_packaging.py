"""The command line as it is installed: its own package, without the server's code."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_command_line_imports_nothing_of_the_server():
    script = (
        "import sys, releasedeck_cli.main; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'rest_framework', "
        "'celery', 'apps', 'config'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd="/", check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_console_script_is_installed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"releasedeck": "releasedeck_cli.main:run"}
    script = Path(sys.executable).with_name("releasedeck")
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("releasedeck, version ")


def test_the_image_copies_each_installed_package_before_installing_the_project():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    lines = [line.split() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    install = next(
        i for i, line in enumerate(lines) if re.fullmatch(r"RUN pip install \.", " ".join(line))
    )
    copied = {line[1].rstrip("/") for line in lines[:install] if line[:1] == ["COPY"]}
    assert set(packages) <= copied
