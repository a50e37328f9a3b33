"""pygls' protocol with the LSP lifecycle rules enforced and our own document store.

- A request before `initialize` is answered with ServerNotInitialized (-32002).
- A request after `shutdown` is answered with InvalidRequest (-32600); pygls would drop it,
  leaving the client waiting forever.
- Text synchronisation goes to our `DocumentStore` only: pygls' own store is skipped, so a
  change is applied exactly once, with our position clamping.

This class is also the one adapter for pygls internals that have no public API
(`_shutdown`, `_send_response`, `_send_data`, the feature manager's tables); the rest of
cl-lsp calls the public methods below, and tests/unit/test_protocol_adapter.py pins the
behaviour relied on.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidRequest, JsonRpcServerNotInitialized
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCRequest
from pygls.protocol.language_server import lsp_method

log = logging.getLogger(__name__)

_ALWAYS_ALLOWED = frozenset({types.INITIALIZE, types.EXIT})


class ClLspProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialized = False
        # pygls raises SystemExit inside the event loop and then swallows it, so the
        # process would always end with 0: keep the spec's code for the CLI to return.
        self.exit_code = 1

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        if method is not None and method not in _ALWAYS_ALLOWED:
            is_request = isinstance(message, RPCRequest)
            if self._shutdown:
                if is_request:
                    shutting = JsonRpcInvalidRequest(f"{method}: the server is shutting down")
                    self._send_response(message.id, None, shutting.to_response_error())
                return
            if not self.initialized:
                if is_request:
                    early = JsonRpcServerNotInitialized(f"{method}: send initialize first")
                    self._send_response(message.id, None, early.to_response_error())
                return  # notifications before initialize are dropped, as the spec says
        if method == types.INITIALIZE and self.initialized and isinstance(message, RPCRequest):
            error = JsonRpcInvalidRequest("initialize was already sent")
            self._send_response(message.id, None, error.to_response_error())
            return
        super().handle_message(message)

    def input_ended(self) -> None:
        """The client closed the stream. After `shutdown` that is a clean end even when the
        `exit` notification was lost with the connection (a client that hangs up at once)."""
        if self._shutdown:
            self.exit_code = 0

    def send_payload(self, data: dict[str, Any]) -> None:
        """Write a JSON-RPC message as it is (the lsprotocol converter would drop an
        `"id": null`, which an error for an unreadable request must carry)."""
        self._send_data(data)

    def withdraw_feature(self, method: str) -> None:
        """Unregister a feature before `initialize` answers, so that its capability is not
        announced (pygls has no public way to do this)."""
        self.fm.features.pop(method, None)
        self.fm.feature_options.pop(method, None)

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        self.initialized = True
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        self.exit_code = 0 if self._shutdown else 1
        yield from super().lsp_exit(*args)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)
