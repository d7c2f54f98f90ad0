"""Which packages a declared package usually brings with it: ``pandas`` brings ``numpy``.

Used by ``skills check`` before a skill's environment is installed (DESIGN §3.6): a
science skill declares pandas and imports numpy too, which pandas installs. Until the
install, nothing tells them apart from an import the author forgot to declare, and
calling numpy "missing" tells the author to change a correct skill. Only a hint, read
from no package's metadata (the packages are not installed yet): nothing is installed
from it, and a version whose requirements differ is caught by ``check`` after the install.
"""

from __future__ import annotations

from collections.abc import Collection

from packaging.utils import canonicalize_name

from skillexec.environments.modules import same_module

__all__ = ["likely_from"]

# What common packages require to install (their Requires-Dist without extras), as far as
# a script imports it directly; canonical names. Each is followed in turn (seaborn brings
# pandas, which brings numpy).
_BRINGS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "pandas": "numpy python-dateutil",
    "scipy": "numpy",
    "matplotlib": "numpy pillow python-dateutil pyparsing packaging cycler kiwisolver "
                  "fonttools contourpy",
    "seaborn": "numpy pandas matplotlib",
    "scikit-learn": "numpy scipy joblib threadpoolctl",
    "statsmodels": "numpy scipy pandas patsy packaging",
    "scikit-image": "numpy scipy networkx pillow imageio tifffile packaging",
    "xarray": "numpy pandas packaging",
    "geopandas": "numpy pandas shapely pyproj packaging",
    "anndata": "numpy pandas scipy h5py natsort packaging",
    "scanpy": "anndata numpy pandas scipy matplotlib seaborn h5py scikit-learn statsmodels "
              "networkx numba umap-learn tqdm natsort joblib packaging",
    "umap-learn": "numpy scipy scikit-learn numba pynndescent tqdm",
    "numba": "numpy llvmlite",
    "librosa": "numpy scipy scikit-learn joblib numba soundfile",
    "xgboost": "numpy scipy",
    "lightgbm": "numpy scipy",
    "biopython": "numpy",
    "imageio": "numpy pillow",
    "opencv-python": "numpy",
    "torchvision": "torch numpy pillow",
    "transformers": "numpy huggingface-hub pyyaml regex requests tqdm tokenizers "
                    "safetensors packaging filelock",
    "sentence-transformers": "transformers torch tqdm scikit-learn scipy huggingface-hub "
                             "pillow",
    "sympy": "mpmath",
    "nltk": "click joblib regex tqdm",
    "requests": "urllib3 certifi idna charset-normalizer",
    "httpx": "httpcore certifi idna anyio",
    "boto3": "botocore jmespath s3transfer",
    "botocore": "urllib3 python-dateutil jmespath",
    "beautifulsoup4": "soupsieve",
    "jinja2": "markupsafe",
    "flask": "werkzeug jinja2 itsdangerous click blinker",
    "fastapi": "starlette pydantic",
    "pydantic": "pydantic-core typing-extensions annotated-types",
    "typer": "click rich typing-extensions shellingham",
    "rich": "pygments markdown-it-py",
    "python-docx": "lxml typing-extensions",
    "python-pptx": "lxml pillow xlsxwriter typing-extensions",
    "openpyxl": "et-xmlfile",
    "pdfplumber": "pdfminer-six pillow pypdfium2",
    "pdf2image": "pillow",
    "pytesseract": "packaging pillow",
    "reportlab": "pillow",
}.items()}


def likely_from(package: str, declared: Collection[str]) -> list[str]:
    """Those of ``declared`` (canonical names) that usually bring ``package`` with them
    when installed, sorted; none when ``package`` is not known to come with any."""
    wanted = canonicalize_name(package)
    return sorted(d for d in declared if wanted in _brought(d))


def _brought(package: str) -> set[str]:
    """Every package ``package`` usually brings, followed through each one it brings."""
    found: set[str] = set()
    todo: list[str] = [canonicalize_name(package)]
    while todo:
        name = todo.pop()
        # opencv-python-headless brings what opencv-python does.
        for alike in same_module(name):
            for dep in _BRINGS.get(alike, ()):
                if dep not in found:
                    found.add(dep)
                    todo.append(dep)
    return found
