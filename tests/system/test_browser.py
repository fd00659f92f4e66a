"""The web page in headless Chromium (Playwright): load, start, send a message, receive frames and audio,
screenshot (to the test's temporary folder; to docs/img/web.png with LIVETALK_UPDATE_DOCS=1, so a test run does not
rewrite a tracked file). Skipped when Chromium or Playwright is missing."""

import os
import shutil
import time
from pathlib import Path

import pytest

from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.server import BackgroundServer, create_app
from livetalk.system.stub_performer import StubPerformer

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium") or "")
                 if p and Path(p).exists()), None)
DOC_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "web.png"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]  # a fake microphone (beeps)


def test_page_conversation_in_chromium(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    app = create_app(StubPerformer(size=256), OfflineThinker(), max_sessions=1)
    errors: list[str] = []
    with BackgroundServer(app) as srv, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1240, "height": 900})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(srv.url)
            page.wait_for_selector(".face")
            assert page.locator(".face").count() == 3
            # a non-image upload is refused with a clear message
            bad = tmp_path / "notes.png"
            bad.write_text("this is not an image")
            page.set_input_files("#upload", str(bad))
            page.wait_for_function("document.getElementById('upload-msg').textContent.includes('not an image')")
            page.click(".face >> nth=1")
            page.click("#start")
            page.wait_for_function("window.livetalk.ready && window.livetalk.framesDrawn > 0", timeout=15000)
            page.fill("#text", "Hello! My name is Robin.")
            page.click("#send")
            page.wait_for_function("window.livetalk.lastLatencyMs !== null", timeout=20000)
            page.wait_for_selector(".bubble.bot")
            page.wait_for_function("window.livetalk.turnsEnded >= 1", timeout=20000)  # let the answer finish
            page.fill("#text", "What is 6 times 7?")
            page.click("#send")
            page.wait_for_function("[...document.querySelectorAll('.bubble.bot')].some(b => b.textContent.includes('42'))",
                                   timeout=20000)
            time.sleep(1.2)  # let the answer play, so the screenshot shows a speaking avatar and live metrics
            stats = page.evaluate("""() => { const s = window.livetalk;
                return {frames: s.framesReceived, drawn: s.framesDrawn, audio: s.audioSamples,
                        scheduled: s.audioScheduled, latency: s.lastLatencyMs, fps: s.fps,
                        audioClock: s.useAudioClock, errors: s.errors}; }""")
            print("\nbrowser:", stats)
            shot = DOC_SCREENSHOT if os.environ.get("LIVETALK_UPDATE_DOCS") == "1" else tmp_path / "web.png"
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 0
            assert stats["frames"] > 16 and stats["drawn"] > 8
            assert stats["audio"] >= 1000 * stats["frames"] - 1000
            assert stats["latency"] is not None and stats["latency"] > 0
            assert stats["errors"] == []
            assert "Robin" in page.inner_text("#log")
            assert page.inner_text("#ov-fps").endswith("fps")
            # a second visitor is refused clearly while the only slot is taken
            other = browser.new_page()
            other.goto(srv.url)
            other.wait_for_selector(".face")
            other.click("#start")
            other.wait_for_function("document.getElementById('conn-text').textContent === 'server full'")
            assert "The server is full" in other.inner_text("#log")
            other.close()
            # speech input: record ~1.5 s from the (fake) microphone; the browser's WebM/Opus goes through
            # /api/audio (PyAV decode) and the offline thinker answers that it heard it
            if not page.is_disabled("#mic"):
                page.click("#mic")
                page.wait_for_function("window.livetalk.recorder !== null")
                time.sleep(1.5)
                page.click("#mic")
                page.wait_for_function(
                    "[...document.querySelectorAll('.bubble.bot')].some(b => b.textContent.includes('seconds'))",
                    timeout=20000)
                assert "(speech," in page.inner_text("#log")
                print("mic reply:", page.locator(".bubble.bot").last.inner_text())
            # restart with another face while the only slot is held: the old session is freed first
            page.click(".face >> nth=2")
            page.click("#start")
            page.wait_for_function("document.querySelectorAll('.bubble.sys').length >= 2 && window.livetalk.ready",
                                   timeout=15000)
            assert app.state.manager.active == 1
        finally:
            browser.close()
        app.state.manager.close_all()
    assert errors == []
