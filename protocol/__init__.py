"""Arena's wire protocol: message types, validation and encoding.

Pure: no I/O, and no imports from the rest of the project.
"""

from protocol.codec import decode_client, encode, encode_error
from protocol.errors import ErrorCode, ProtocolError

__all__ = ["ErrorCode", "ProtocolError", "decode_client", "encode", "encode_error"]
