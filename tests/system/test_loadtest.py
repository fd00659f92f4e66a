"""Bounded loopback load test: 10 clients against a server limited to 8 sessions, 3 s each."""

import json

from livetalk.system.loadtest import run_load_test
from livetalk.system.offline_thinker import OfflineThinker
from livetalk.system.server import BackgroundServer, create_app
from livetalk.system.stub_performer import StubPerformer


def test_many_sessions_on_loopback():
    app = create_app(StubPerformer(size=128), OfflineThinker(), max_sessions=8)
    with BackgroundServer(app) as srv:
        report = run_load_test(srv.url, sessions=10, seconds=4.0)
        app.state.manager.close_all()
    print("\nload test:", json.dumps(report))
    assert report["sessions_held"] == 8 and report["sessions_refused"] == 2
    assert report["peak_active_sessions"] == 8
    assert report["client_errors"] == [] and report["server_errors"] == 0
    assert report["server_active_sessions_after"] == 0  # every disconnect freed its session
    assert report["frames_received"] > 8 * 16  # every session streamed video
    assert report["speech_frames_received"] > 0 and report["barge_ins"] >= 1
