"""CURVE keys for :class:`FerryClient` (section 13 of the protocol: ferryd as a CURVE server).

A client needs the server's public key and a key pair of its own whose public key is listed in
ferryd's credentials file. Keys are Z85 text (40 characters). Key files are ZeroMQ certificates
in the ZPL format that ``ferry keygen``, czmq's ``zcert`` and pyzmq's
``zmq.auth.create_certificates`` write: ``NAME.key`` (public, shareable) and ``NAME.key_secret``
(public and secret key; keep it private).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Sequence, Tuple, Union

import zmq
import zmq.auth
from zmq.utils import z85

from .errors import FerryError

#: The server's public key: Z85 text, or the path of its public certificate (``NAME.key``).
ENV_SERVER_KEY = "FERRY_SERVER_KEY"
#: The path of the client's secret certificate (``NAME.key_secret``).
ENV_CLIENT_KEY_FILE = "FERRY_CLIENT_KEY_FILE"

Z85_KEY_LENGTH = 40
_Z85_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

ServerKey = Union[str, bytes, "os.PathLike[str]"]
KeyText = Union[str, bytes]


class CurveKeys:
    """The keys a CURVE client connects with, all Z85 text: ``server_key`` (the server's public
    key), ``public_key`` (this client's: the one listed in ferryd's credentials file) and the
    client's secret key (not shown by ``repr``)."""

    __slots__ = ("server_key", "public_key", "_secret_key")

    def __init__(self, server_key: str, public_key: str, secret_key: str):
        self.server_key = server_key
        self.public_key = public_key
        self._secret_key = secret_key

    def apply(self, socket: zmq.Socket) -> None:
        """Make ``socket`` a CURVE client with these keys (before it connects)."""
        socket.curve_serverkey = z85.decode(self.server_key.encode("ascii"))
        socket.curve_publickey = z85.decode(self.public_key.encode("ascii"))
        socket.curve_secretkey = z85.decode(self._secret_key.encode("ascii"))

    def __repr__(self) -> str:
        return f"CurveKeys(server_key={self.server_key!r}, public_key={self.public_key!r})"

    def __eq__(self, other) -> bool:
        return (isinstance(other, CurveKeys) and (self.server_key, self.public_key, self._secret_key)
                == (other.server_key, other.public_key, other._secret_key))

    __hash__ = None  # type: ignore[assignment]


def is_z85_key(text: str) -> bool:
    """Whether ``text`` is a CURVE key in Z85: 40 characters of the Z85 alphabet that decode."""
    if len(text) != Z85_KEY_LENGTH or not set(text) <= _Z85_ALPHABET:
        return False
    try:
        return len(z85.decode(text.encode("ascii"))) == 32
    except Exception:  # a 5-character group above 2**32 (struct.error)
        return False


def _text(value: KeyText, what: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not a CURVE key: not ASCII (a key is 40 Z85 characters)") from None
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a str or bytes of 40 Z85 characters, not {type(value).__name__}")
    return value.strip()


def _key(value: KeyText, what: str) -> str:
    text = _text(value, what)
    if not is_z85_key(text):
        raise ValueError(f"{what} is not a CURVE key: it must be 40 Z85 characters, got {len(text)} characters"
                         + ("" if len(text) != Z85_KEY_LENGTH else " that are not valid Z85"))
    return text


def _load(path: str, what: str) -> Tuple[Optional[bytes], Optional[bytes]]:
    if not os.path.exists(path):
        raise ValueError(f"{what} {path!r} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"{what} {path!r} is not a file")
    try:
        return zmq.auth.load_certificate(path)
    except ValueError:  # "No public key found in ..."
        raise ValueError(f"{what} {path!r} is not a ZeroMQ certificate: it has no public-key line") from None
    except OSError as error:
        raise ValueError(f"{what} {path!r} cannot be read: {error.strerror or error}") from None


def server_public_key(server_key: ServerKey, what: str = "server_key") -> str:
    """The server's public key (Z85) from 40 Z85 characters or the path of a certificate file
    (its ``public-key``; a secret certificate works too, only its public key is used)."""
    if isinstance(server_key, (str, bytes)):
        text = _text(server_key, what)
        if is_z85_key(text):
            return text
        if not os.path.exists(text):
            raise ValueError(f"{what} is neither a CURVE public key (40 Z85 characters) nor the path of an "
                             f"existing certificate file: {text!r}")
        path = text
    elif isinstance(server_key, os.PathLike):
        path = os.fspath(server_key)
    else:
        raise ValueError(f"{what} must be 40 Z85 characters or a certificate file's path, "
                         f"not {type(server_key).__name__}")
    public, _secret = _load(path, f"{what} file")
    return _key(public, f"the public-key of {what} file {path!r}")


def client_key_pair(client_key_file: Union[str, "os.PathLike[str]", None] = None,
                    client_keys: Optional[Sequence[KeyText]] = None,
                    what: str = "client_key_file") -> Tuple[str, str]:
    """The client's ``(public, secret)`` keys (Z85) from its secret certificate file or a pair."""
    if client_key_file is not None:
        path = os.fspath(client_key_file)
        public, secret = _load(path, f"{what}")
        if secret is None:
            raise ValueError(f"{what} {path!r} has no secret key: it is a public certificate; pass the "
                             "client's secret certificate (NAME.key_secret)")
        pair = (_key(public, f"the public-key of {what} {path!r}"),
                _key(secret, f"the secret-key of {what} {path!r}"))
        source = f"{what} {path!r}"
    else:
        if isinstance(client_keys, (str, bytes)) or client_keys is None or len(client_keys) != 2:
            raise ValueError("client_keys must be a (public, secret) pair of Z85 keys")
        pair = (_key(client_keys[0], "the public key of client_keys"),
                _key(client_keys[1], "the secret key of client_keys"))
        source = "client_keys"
    try:
        derived = zmq.curve_public(pair[1].encode("ascii")).decode("ascii")
    except (zmq.ZMQError, AttributeError):  # no curve_public in this libzmq: the handshake will tell
        derived = pair[0]
    if derived != pair[0]:
        raise ValueError(f"{source}: the public key does not belong to the secret key")
    return pair


def resolve_curve_keys(server_key: Optional[ServerKey] = None,
                       client_key_file: Union[str, "os.PathLike[str]", None] = None,
                       client_keys: Optional[Sequence[KeyText]] = None,
                       environ: Optional[Mapping[str, str]] = None) -> Optional[CurveKeys]:
    """The :class:`CurveKeys` for these :class:`FerryClient` arguments, or ``None`` (plaintext).

    If none of the three is given (all ``None``), they come from the environment:
    ``FERRY_SERVER_KEY`` (Z85 text or the path of the server's public certificate) and
    ``FERRY_CLIENT_KEY_FILE`` (the path of the client's secret certificate); an empty value
    counts as unset. An empty ``server_key`` (``""``) means plaintext whatever the environment
    says. CURVE needs both a server key and a client key: one without the other is an error.
    Raises :class:`ValueError` naming what is wrong (a key that is not 40 Z85 characters, a
    missing file, a certificate without a secret key, a half-given configuration).
    """
    if client_key_file is not None and client_keys is not None:
        raise ValueError("pass client_key_file or client_keys, not both")
    server_what, client_what = "server_key", "client_key_file"
    if server_key is None and client_key_file is None and client_keys is None:
        env = os.environ if environ is None else environ
        server_key = env.get(ENV_SERVER_KEY) or None
        client_key_file = env.get(ENV_CLIENT_KEY_FILE) or None
        server_what, client_what = ENV_SERVER_KEY, ENV_CLIENT_KEY_FILE
    if isinstance(server_key, (str, bytes)) and not server_key:
        server_key = None
    if isinstance(client_key_file, (str, bytes)) and not client_key_file:
        client_key_file = None
    has_client = client_key_file is not None or client_keys is not None
    if server_key is None and not has_client:
        return None
    if server_key is None:
        raise ValueError(f"a client key was given ({'client_keys' if client_keys is not None else client_what}) "
                         f"but no server key: CURVE needs the server's public key too (server_key or "
                         f"{ENV_SERVER_KEY}: 40 Z85 characters or the path of the server's .key file)")
    if not has_client:
        raise ValueError(f"a server key was given ({server_what}) but no client key: CURVE needs this client's "
                         f"key pair too (client_key_file or {ENV_CLIENT_KEY_FILE}: the path of its .key_secret "
                         "file, or client_keys)")
    if not zmq.has("curve"):
        raise FerryError(f"this libzmq ({zmq.zmq_version()}) has no CURVE support: it cannot connect with keys")
    server = server_public_key(server_key, server_what)
    public, secret = client_key_pair(client_key_file, client_keys, client_what)
    return CurveKeys(server, public, secret)
