"""Which package usually provides a module: ``PIL`` is ``pillow``, ``yaml`` is ``pyyaml``.

Used to name the package to declare when a skill imports a module nothing provides
(DESIGN §3.6): at run time (``missing_module``) and ahead of time (``skills check``).
Only a hint: nothing is ever installed from it.
"""

from __future__ import annotations

import re

from skillexec.errors import ErrorInfo

__all__ = ["GUESSED", "ending_missing_module", "missing_module_message", "module_key",
           "name_the_package", "own_module_message", "package_for", "package_guessed",
           "same_module"]

# Distributions that provide the same modules, of which a skill declares one: installing
# another beside it (culture-index declares opencv-python-headless) overwrites its files.
_ALIKE = (
    frozenset({"opencv-python", "opencv-python-headless", "opencv-contrib-python",
               "opencv-contrib-python-headless"}),
    frozenset({"psycopg2", "psycopg2-binary"}),
    frozenset({"pillow", "pillow-simd"}),
    frozenset({"tensorflow", "tensorflow-cpu", "tensorflow-macos"}),
    frozenset({"faiss-cpu", "faiss-gpu"}),
    frozenset({"onnxruntime", "onnxruntime-gpu"}),
)


def same_module(package: str) -> frozenset[str]:
    """The distributions that provide what ``package`` does (canonical names), itself
    included."""
    name = package.lower().replace("_", "-")
    return next((group for group in _ALIKE if name in group), frozenset({name}))


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
    "OCP": "cadquery-ocp", "mem0": "mem0ai", "arango": "python-arango",
    "git": "gitpython", "github": "pygithub", "jose": "python-jose", "nacl": "pynacl",
    "googleapiclient": "google-api-python-client", "mpl_toolkits": "matplotlib",
    "OpenGL": "pyopengl", "kafka": "kafka-python", "google.oauth2": "google-auth",
    # pywin32 ships these as top-level modules; none is a package of its own name.
    **dict.fromkeys(("win32com", "win32con", "win32gui", "win32process", "win32clipboard",
                     "win32file", "win32event", "win32service", "win32serviceutil",
                     "win32print", "win32ui", "win32pipe", "win32security", "pythoncom",
                     "pywintypes"), "pywin32"),
    # Microsoft 365 / Graph, as imported by Power Platform and SharePoint scripts.
    "office365": "Office365-REST-Python-Client", "msgraph": "msgraph-sdk",
    # Where the index's project of the module's own name is another (or an abandoned) one.
    "whisper": "openai-whisper", "bson": "pymongo", "pdfminer": "pdfminer.six",
    "dns": "dnspython", "websocket": "websocket-client", "frontmatter": "python-frontmatter",
    "grpc": "grpcio", "socks": "pysocks", "Cryptodome": "pycryptodomex",
    "Xlib": "python-xlib", "wx": "wxpython", "cairo": "pycairo", "odf": "odfpy",
    "newspaper": "newspaper3k", "readability": "readability-lxml", "ldap": "python-ldap",
    "nmap": "python-nmap", "memcache": "python-memcached", "barcode": "python-barcode",
    "camelot": "camelot-py", "tabula": "tabula-py", "gitlab": "python-gitlab",
    "atlassian": "atlassian-python-api", "llama_cpp": "llama-cpp-python",
    "vertexai": "google-cloud-aiplatform", "multipart": "python-multipart",
    "pythonjsonlogger": "python-json-logger", "RPi": "RPi.GPIO",
    "google.genai": "google-genai", "google.generativeai": "google-generativeai",
    "tensorflow_text": "tensorflow-text",
    # Seen in hardware and developer skills (OhmsSweetOhms'): "elftools" on the index is
    # not pyelftools.
    "elftools": "pyelftools", "markdown_it": "markdown-it-py", "usb1": "libusb1",
    "cpuinfo": "py-cpuinfo", "ruamel.yaml": "ruamel.yaml", "notion_client": "notion-client",
}
# Modules whose package has their own name: known, not guessed (see package_guessed).
_SAME_NAME = frozenset({
    "requests", "numpy", "pandas", "scipy", "matplotlib", "httpx", "aiohttp", "boto3",
    "botocore", "click", "typer", "rich", "pydantic", "jinja2", "flask", "fastapi",
    "uvicorn", "openai", "tqdm", "tabulate", "selenium", "seaborn", "plotly", "networkx",
    "sympy", "torch", "torchvision", "transformers", "tiktoken", "qrcode", "psutil",
    "paramiko", "redis", "pymongo", "sqlalchemy", "websockets", "toml", "tomli", "pytz",
    "xmltodict", "feedparser", "chardet", "certifi", "urllib3", "nltk", "spacy",
    "jsonschema", "xlsxwriter", "msal", "tweepy", "pygame", "psycopg", "pymysql",
    "xlrd", "docx2txt", "pydub", "moviepy", "imageio", "html2text", "markdownify",
    "pyperclip", "keyring", "cryptography", "arrow", "pendulum", "emoji", "pyautogui",
    "tenacity", "pyarrow", "polars", "duckdb", "elasticsearch", "pika", "docker",
    "kubernetes", "streamlit", "gradio", "langchain", "tomli_w", "orjson", "ujson",
    "simplejson", "weasyprint", "pdfkit", "xhtml2pdf", "ebooklib", "mutagen", "pyttsx3",
    "sounddevice", "soundfile", "librosa", "shapely", "geopandas", "folium", "statsmodels",
    "tensorflow", "keras", "xgboost", "lightgbm", "jieba", "validators", "html5lib",
    "markdown2", "mistune", "pyzbar", "pyppeteer", "humanize", "babel", "pytest",
    "mediapipe", "svgwrite", "docopt", "pdfrw",
})
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


def _known(module: str) -> str | None:
    key = module_key(module)
    for name in (module, key):
        if name in _PACKAGES:
            return _PACKAGES[name]
    return key if key in _SAME_NAME else None


def package_for(module: str) -> str:
    """The distribution that usually provides ``module`` (a dotted import name)."""
    return _known(module) or module_key(module).replace("_", "-").replace(".", "-").lower()


def package_guessed(module: str) -> bool:
    """Whether :func:`package_for` only made the package's name up from the module's:
    a hint to check before installing (``dataverse_api`` is no project of Microsoft's)."""
    return _known(module) is None


GUESSED = "guessed from the module's name"


def missing_module_message(module: str, *, skill_id: str | None = None) -> str:
    """One sentence: the module, the package to declare, and where to declare it."""
    top = module_key(module) if _NAME.match(module) else module
    package = package_for(top)
    guess = f" ({GUESSED})" if package_guessed(top) else ""
    who = f"skill {skill_id!r} imports" if skill_id else "the skill imports"
    if guess:
        # Never a ready-to-run command for a made-up name: the index's project of that name
        # may be another's (elftools is pyelftools'; "elftools" there is not it).
        fix = (f" (then: skillexec skills install {skill_id} PACKAGE)" if skill_id else "")
        return (f"{who} the module {top!r}, which is not installed: find the package that "
                f"provides it and declare that in its dependencies or requirements.txt{fix}; "
                f"none is known for it here, and {package!r}{guess} may be another project")
    fix = (f" (or run: skillexec skills install {skill_id} {package})" if skill_id else "")
    return (f"{who} the module {top!r}, which is not installed: declare the package "
            f"{package!r} in its dependencies or requirements.txt{fix}")


def own_module_message(module: str, *, skill_id: str, where: str) -> str:
    """A module of the skill's own files that a script could not import: no package."""
    top = module_key(module) if _NAME.match(module) else module
    named = (f"{module!r}, a name of the skill's own files" if top == module
             else f"{module!r} ({top!r} names the skill's own files)")
    # Both places a script's imports look in (see _child_script.preload): "from scripts.x"
    # of a script in scripts/ is found in the skill's folder, and "not there" once named
    # a folder that was there.
    looked = ("the skill's folder, which does not hold it" if where == "the skill's folder"
              else f"its own folder ({where}) or, after the packages, the skill's folder, "
              "and neither holds it")
    return (f"skill {skill_id!r}: the script cannot import {named}, not a package to "
            f"install: a script imports the skill's modules from {looked}")


def ending_missing_module(exc: BaseException) -> str | None:
    """The module whose absence ended a run whose last exception is ``exc``, else None.

    Only what ended it counts: a ``ModuleNotFoundError`` itself, or one it was raised
    ``from`` (``raise RuntimeError(...) from exc``), or one an ``ImportError`` was raised
    while handling (``except ImportError: raise ImportError("pip install x")``). An
    ImportError the script caught and then died of something else (a failed ``pip
    install`` in its handler) is no module to declare: that advice changed nothing."""
    link: BaseException | None = exc
    for _ in range(16):  # a chain can loop (an exception raised from itself)
        if link is None:
            return None
        if type(link) is ModuleNotFoundError and link.name:
            return str(link.name)
        if link.__cause__ is not None:
            link = link.__cause__
        elif isinstance(link, ImportError) and not link.__suppress_context__:
            link = link.__context__
        else:
            return None
    return None


def name_the_package(info: ErrorInfo, exc: BaseException, *, skill_id: str | None = None,
                     ) -> ErrorInfo:
    """``info`` (classified ``missing_module``) saying which package to declare."""
    module = ending_missing_module(exc)
    if info.code != "missing_module" or module is None:
        return info
    return ErrorInfo(type=info.type, code=info.code, retryable=info.retryable,
                     severity=info.severity,
                     message=missing_module_message(module, skill_id=skill_id),
                     details={**info.details, "module": module_key(module),
                              "package": package_for(module)})
