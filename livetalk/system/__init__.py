"""The interactive system: Thinker/Talker adapters, conversation sessions, the web server and page.

Modules: `thinker` (protocol + OpenAI-compatible adapter), `offline_thinker` (embedded responder + espeak-ng),
`session` (limit, barge-in, pacing), `server` (FastAPI app, WebSocket protocol), `stub_performer`
(a light Performer for tests), `performers` (`build_performer`), `image_io` (upload validation),
`loadtest`, `commands` (`livetalk serve`, `livetalk bench system`). See docs/system.md.
"""
