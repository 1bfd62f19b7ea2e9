"""The matcher is built when a server process starts (gunicorn worker, serve_demo), not on
the first suggestion a call-taker asks for, and never at import time."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from unittest import mock

from relais.regulation import matching

ROOT = Path(__file__).resolve().parents[2]


def _gunicorn_conf():
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", ROOT / "deploy" / "gunicorn.conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gunicorn_worker_hook_builds_the_matcher_before_serving():
    conf = _gunicorn_conf()
    worker = mock.Mock()
    with mock.patch.object(matching, "warm") as warm:
        conf.post_worker_init(worker)
    warm.assert_called_once_with()
    worker.notify.assert_called_once_with()


def test_warm_builds_the_shared_matcher_and_runs_a_text():
    built = matching.warm()
    assert built is matching.get_matcher()
    assert (
        built.match("douleur thoracique").candidate_criteria
        or built.match("douleur thoracique").red_flag
    )


def test_warm_in_background_returns_a_daemon_thread_that_builds_it():
    with mock.patch.object(matching, "get_matcher") as get:
        thread = matching.warm(background=True)
        thread.join(timeout=30)
    assert thread.daemon and not thread.is_alive()
    get.assert_called_once_with()
    get.return_value.match.assert_called_once()


def test_serve_demo_warms_in_the_background_before_serving():
    from relais.demo.management.commands import serve_demo

    order = []
    with (
        mock.patch.object(matching, "warm", side_effect=lambda **kw: order.append(("warm", kw))),
        mock.patch.object(
            serve_demo, "call_command", side_effect=lambda *a, **k: order.append(("serve", a[0]))
        ),
        mock.patch.object(serve_demo.subprocess, "Popen"),
        mock.patch("relais.core.site.adopt_served_address", return_value="http://127.0.0.1:8999"),
    ):
        serve_demo.Command().handle(addr="127.0.0.1:8999")
    assert order == [("warm", {"background": True}), ("serve", "runserver")]


def test_importing_the_project_does_not_build_the_matcher():
    # a management command or a test that never suggests a motif pays nothing
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'relais.settings');"
        "django.setup(); import relais.urls, relais.regulation.matching as m;"
        "print(m._shared_matcher.cache_info().currsize)"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "0"
