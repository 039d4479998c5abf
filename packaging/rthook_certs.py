"""PyInstaller runtime hook: give the bundled OpenSSL a CA store on any Linux distribution.

The bundle carries the build machine's libssl, which looks for CA certificates where that
distribution keeps them (Debian: /usr/lib/ssl). On another distribution that folder may not exist
and every HTTPS download (the model) would fail certificate checks. So, unless the user set
SSL_CERT_FILE or SSL_CERT_DIR, point OpenSSL at the system's own CA bundle, or at certifi's copy
when the system has none.
"""

import os
import ssl

SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL, CentOS
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/pki/tls/cacert.pem",  # OpenELEC
    "/etc/ssl/cert.pem",  # Alpine, macOS, BSDs
)


def _has_default_store() -> bool:
    paths = ssl.get_default_verify_paths()
    if paths.openssl_cafile and os.path.isfile(paths.openssl_cafile):
        return True
    capath = paths.openssl_capath
    return bool(capath and os.path.isdir(capath) and any(os.scandir(capath)))


def choose_ca_file() -> str | None:
    """The CA bundle to hand OpenSSL, or None when its own default store is there (or when the
    user chose one with SSL_CERT_FILE / SSL_CERT_DIR)."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return None
    if os.name == "nt" or _has_default_store():
        return None  # Windows: Python reads the system certificate store itself
    for candidate in SYSTEM_CA_FILES:
        if os.path.isfile(candidate):
            return candidate
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


_chosen = choose_ca_file()
if _chosen:
    os.environ["SSL_CERT_FILE"] = _chosen
