# nbdev 2 setup: metadata lives in settings.ini; pinned dependencies live in requirements.txt.
from configparser import ConfigParser
from pathlib import Path

import setuptools

cfg = ConfigParser(delimiters=["="])
cfg.read("settings.ini")
cfg = cfg["DEFAULT"]
reqs = [l.split("#")[0].strip() for l in Path("requirements.txt").read_text().splitlines()]
setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    author=cfg["author"],
    license="Apache-2.0",
    python_requires=">=" + cfg["min_python"],
    packages=setuptools.find_packages(include=["fma_wsss", "fma_wsss.*"]),
    include_package_data=True,
    package_data={"fma_wsss": ["profiles/*.yaml"]},
    install_requires=[r for r in reqs if r and not r.startswith(("pytest", "jupyterlab"))],
    entry_points={
        "console_scripts": [cfg["console_scripts"]],
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    zip_safe=False,
)
