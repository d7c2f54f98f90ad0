"""Which package usually provides a module: ``PIL`` is ``pillow``, ``yaml`` is ``pyyaml``.

Used to name the package to declare when a skill imports a module nothing provides
(DESIGN §3.6): at run time (``missing_module``) and ahead of time (``skills check``).
Only a hint: nothing is ever installed from it.
"""

from __future__ import annotations

import re

from skillexec.errors import ErrorInfo

__all__ = ["missing_module_message", "module_key", "name_the_package", "package_for"]

# Import names that differ from their distribution's name; any other is its own name.
_PACKAGES: dict[str, str] = {
    "PIL": "pillow", "yaml": "pyyaml", "cv2": "opencv-python", "docx": "python-docx",
    "pptx": "python-pptx", "bs4": "beautifulsoup4", "sklearn": "scikit-learn",
    "fitz": "pymupdf", "skimage": "scikit-image", "dateutil": "python-dateutil",
    "dotenv": "python-dotenv", "jwt": "pyjwt", "magic": "python-magic",
    "Crypto": "pycryptodome", "OpenSSL": "pyopenssl", "serial": "pyserial",
    "usb": "pyusb", "attr": "attrs", "google.protobuf": "protobuf", "gi": "pygobject",
    "win32api": "pywin32", "markdown": "markdown", "pypdf": "pypdf", "PyPDF2": "pypdf2",
    "pdfplumber": "pdfplumber", "pdf2image": "pdf2image", "pytesseract": "pytesseract",
    "openpyxl": "openpyxl", "lxml": "lxml", "defusedxml": "defusedxml",
    "playwright": "playwright", "imageio_ffmpeg": "imageio-ffmpeg", "mcp": "mcp",
    "anthropic": "anthropic", "googletrans": "googletrans", "reportlab": "reportlab",
    "pypdfium2": "pypdfium2", "Levenshtein": "python-levenshtein", "zmq": "pyzmq",
    "psycopg2": "psycopg2-binary", "MySQLdb": "mysqlclient", "sentence_transformers":
    "sentence-transformers", "speech_recognition": "SpeechRecognition",
    "telegram": "python-telegram-bot", "discord": "discord.py", "pkg_resources": "setuptools",
    # The maintained fork; the package "fpdf" is PyFPDF 1.7, unmaintained since 2017.
    "fpdf": "fpdf2",
    # Seen in scientific and developer skills (K-Dense's, cc-skills'): the index's names.
    "Bio": "biopython", "tdc": "pytdc", "umap": "umap-learn", "faiss": "faiss-cpu",
    "git": "gitpython", "github": "pygithub", "jose": "python-jose", "nacl": "pynacl",
    "googleapiclient": "google-api-python-client", "mpl_toolkits": "matplotlib",
    "OpenGL": "pyopengl", "kafka": "kafka-python", "google.oauth2": "google-auth",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# Namespace packages: many distributions share the top-level name, and the package is named
# by the next part (backports.zoneinfo, google.auth, azure.identity), or the one after it
# under these (google.cloud.storage, azure.storage.blob). Their top-level name alone is no
# package to install: "google" on the index is not Google's.
_NAMESPACES = frozenset({"backports", "google", "azure", "jaraco", "zope", "ruamel",
                         "sphinxcontrib"})
_DEEPER = frozenset({("google", "cloud"), ("azure", "mgmt"), ("azure", "storage"),
                     ("azure", "keyvault"), ("azure", "ai")})


def module_key(module: str) -> str:
    """The part of a dotted import name that names its distribution: the top-level module,
    or more of it under a namespace package (``backports.zoneinfo``)."""
    parts = module.split(".")
    if parts[0] not in _NAMESPACES or len(parts) < 2:
        return parts[0]
    depth = 3 if tuple(parts[:2]) in _DEEPER and len(parts) > 2 else 2
    return ".".join(parts[:depth])


def package_for(module: str) -> str:
    """The distribution that usually provides ``module`` (a dotted import name)."""
    if module in _PACKAGES:
        return _PACKAGES[module]
    key = module_key(module)
    return _PACKAGES.get(key, key.replace("_", "-").replace(".", "-").lower())


def missing_module_message(module: str, *, skill_id: str | None = None) -> str:
    """One sentence: the module, the package to declare, and where to declare it."""
    top = module_key(module) if _NAME.match(module) else module
    package = package_for(top)
    who = f"skill {skill_id!r} imports" if skill_id else "the skill imports"
    fix = (f" (or run: skillexec skills install {skill_id} {package})" if skill_id else "")
    return (f"{who} the module {top!r}, which is not installed: declare the package "
            f"{package!r} in its dependencies or requirements.txt{fix}")


def name_the_package(info: ErrorInfo, exc: BaseException, *, skill_id: str | None = None,
                     ) -> ErrorInfo:
    """``info`` (classified ``missing_module``) saying which package to declare."""
    link: BaseException | None = exc
    while link is not None and not (type(link) is ModuleNotFoundError and link.name):
        link = link.__cause__ or link.__context__
    if info.code != "missing_module" or not isinstance(link, ModuleNotFoundError) \
            or not link.name:
        return info
    return ErrorInfo(type=info.type, code=info.code, retryable=info.retryable,
                     severity=info.severity,
                     message=missing_module_message(link.name, skill_id=skill_id),
                     details={**info.details, "module": module_key(link.name),
                              "package": package_for(link.name)})
