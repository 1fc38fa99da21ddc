import re
import tomllib
from pathlib import Path

import assay_runner_sdk
from assay_runner_sdk import SCHEMA


def test_major_version_is_the_sdk_event_contract_version():
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    contract = int(re.search(r"\.v(\d+)$", SCHEMA).group(1))
    assert int(project["version"].split(".")[0]) == contract
    assert assay_runner_sdk.__version__ == project["version"]
