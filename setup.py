# nbdev 2 setup: metadata lives in settings.ini; pinned dependencies live in requirements.txt.
# The wheel also carries what `fma-wsss run` needs outside a checkout, as package data: the profiles
# (fma_wsss/profiles), the experiment notebooks (nbs/experiments -> fma_wsss/experiments) and the demo set
# (data/demo -> fma_wsss/demo). MANIFEST.in puts their sources in the sdist, so a wheel built from the
# sdist has them too.
import shutil
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
cfg = ConfigParser(delimiters=["="])
cfg.read(HERE / "settings.ini")
cfg = cfg["DEFAULT"]
reqs = [line.split("#")[0].strip() for line in (HERE / "requirements.txt").read_text().splitlines()]
PACKAGE_DATA = {  # source folder in the checkout -> (folder inside the package, files)
    "nbs/experiments": ("experiments", ["*.ipynb"]),
    "data/demo": ("demo", ["README.md", "image_labels.json", "JPEGImages/*.jpg", "SegmentationClass/*.png",
                           "ImageSets/Segmentation/*.txt"]),
}  # fmt: skip


class BuildWithData(build_py):
    "build_py that also copies the experiment notebooks and the demo set into the built package."

    def run(self):
        super().run()
        for src, (dest, patterns) in PACKAGE_DATA.items():
            for pattern in patterns:
                for f in sorted((HERE / src).glob(pattern)):
                    out = Path(self.build_lib) / cfg["lib_path"] / dest / f.relative_to(HERE / src)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f, out)


setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    author=cfg["author"],
    license="Apache-2.0",
    license_files=["LICENSE", "NOTICE"],
    python_requires=">=" + cfg["min_python"],
    packages=setuptools.find_packages(include=["fma_wsss", "fma_wsss.*"]),
    include_package_data=True,
    package_data={"fma_wsss": ["profiles/*.yaml"]},
    install_requires=[r for r in reqs if r and not r.startswith(("pytest", "jupyterlab"))],
    entry_points={
        "console_scripts": [cfg["console_scripts"]],
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    cmdclass={"build_py": BuildWithData},
    zip_safe=False,
)
