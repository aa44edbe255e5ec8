"""Schemathesis hooks for scripts/api-fuzz.sh: how to put the API's two
non-standard request media types on the wire (the generated values are
already text or bytes)."""

import schemathesis

# CMCD event reports are lines of text.
schemathesis.serializer.alias("application/cmcd", "text/plain")
# tus PATCH bodies are raw bytes.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")
