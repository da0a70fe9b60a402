"""The client is an installable package: a wheel built from clients/python (offline) holds the
code, the generated protobuf modules and py.typed, and, installed on its own, publishes and
handles a typed event with the worker runtime against ferryd."""
import shutil
import subprocess
import sys
import textwrap
import zipfile

from support import CLIENT_DIR, uid


def test_a_built_wheel_installs_and_runs_a_worker_on_its_own(endpoint, tmp_path):
    source = tmp_path / "source"  # built from a copy: the build leaves build/ and egg-info behind
    shutil.copytree(CLIENT_DIR, source, ignore=shutil.ignore_patterns(".venv", "tests", "build", "*.egg-info",
                                                                      "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, timeout=120)
    wheel, = (tmp_path / "dist").glob("ferry_client-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in ("ferry_client/py.typed", "ferry_client/worker.py", "ferry_client/aio.py",
                     "ferry_client/proto/ferry/v1/commands_pb2.py", "ferry_client/proto/ferry/v1/event_pb2.py"):
        assert expected in names, names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=120)

    topic, group = f"py.package.{uid()}", f"package-{uid()}"
    program = textwrap.dedent(f"""
        import asyncio, dataclasses, sys
        import ferry_client
        assert ferry_client.__file__.startswith({str(site)!r}), ferry_client.__file__
        from ferry_client import EventBus, FerryClient, Worker, event

        @event("Packaged", topic={topic!r}, key="name")
        @dataclasses.dataclass
        class Packaged:
            name: str

        worker = Worker("package-worker", {endpoint!r})
        seen = []

        @worker.on(Packaged, group={group!r})
        async def handle(event, context):
            seen.append(event.name)
            worker.stop()

        async def main():
            task = asyncio.ensure_future(worker.run(handle_signals=False))
            while not worker.ready.is_set():
                await asyncio.sleep(0.01)
            with FerryClient({endpoint!r}, "package-publisher") as client:
                EventBus(client).publish(Packaged("installed"))
            await asyncio.wait_for(task, 20)

        asyncio.run(main())
        print("handled", seen)
    """)
    # Only the installed copy and the interpreter's own packages (pyzmq, protobuf) on the path.
    result = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); exec({program!r})"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "handled ['installed']" in result.stdout
