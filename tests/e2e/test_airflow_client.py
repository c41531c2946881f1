"""Airflow's official Python clients against `sluice scheduler`.

Makes two venvs under the build directory (reused when present): apache-airflow-client 3.x
(the newest; /api/v2 with a bearer token from POST /auth/token) and 2.x (the newest; /api/v1
with HTTP Basic). Starts a broker and the scheduler on free loopback ports with a temporary
data dir and DAGs folder (a bash DAG, the user_automation DAG pointed at the test broker, and
a broken file), then with each client: lists DAGs, unpauses, triggers, polls the run to
success, lists task instances, reads the log, lists import errors, reads health; checks that
unauthenticated calls get 401, the generated admin password (printed once, file 0600), and
`sluice dags`/`sluice tasks logs --follow` over the same API.
The clients reject any response missing a field their models require. Skips (77) when PyPI
cannot be reached."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

SKIP = 77
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)
    return bool(cond)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("process exited early with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("port %d did not open within %ds" % (port, timeout))


def venv(build, name, requirement, probe):
    """A venv with one requirement; None when PyPI cannot be reached."""
    path = os.path.join(build, "venv", name)
    py = os.path.join(path, "bin", "python")
    if os.path.exists(py) and subprocess.run([py, "-c", probe], capture_output=True).returncode == 0:
        return py
    shutil.rmtree(path, ignore_errors=True)
    r = subprocess.run([sys.executable, "-m", "venv", path], capture_output=True)
    if r.returncode != 0:
        print("cannot make a venv: %s" % r.stderr.decode()[-500:], file=sys.stderr)
        return None
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--timeout", "30", "--retries", "1", requirement], capture_output=True)
    if r.returncode != 0:
        print("pip install %s failed: %s" % (requirement, r.stderr.decode()[-800:]),
              file=sys.stderr)
        shutil.rmtree(path, ignore_errors=True)
        return None
    return py


# Runs inside the 3.x venv. Exits non-zero on the first failed expectation.
CLIENT3 = r'''
import json, os, sys, time, urllib.request, urllib.error
from airflow_client.client import (ApiClient, Configuration, DAGApi, DagRunApi, TaskInstanceApi,
                                   MonitorApi, ImportErrorApi, TaskApi, DAGPatchBody,
                                   TriggerDAGRunPostBody)
from airflow_client.client.exceptions import ApiException
import airflow_client.client as pkg
host = os.environ["HOST"]
print("client", getattr(pkg, "__version__", "?"))

def token(user, pw):
    req = urllib.request.Request(host + "/auth/token", method="POST",
                                 data=json.dumps({"username": user, "password": pw}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)

st, body = token("admin", "wrong")
assert st == 401 and body == {"detail": "Invalid credentials"}, (st, body)
st, body = token("admin", os.environ["PW"])
assert st == 201, (st, body)
tok = body["access_token"]

with ApiClient(Configuration(host=host)) as anon:
    try:
        DAGApi(anon).get_dags()
        raise SystemExit("unauthenticated get_dags succeeded")
    except ApiException as e:
        assert e.status == 401, e.status
    h = MonitorApi(anon).get_health()  # public
    assert h.metadatabase.status == "healthy", h

with ApiClient(Configuration(host=host, access_token=tok)) as c:
    dags = DAGApi(c)
    deadline = time.time() + 60
    while True:
        got = dags.get_dags()
        ids = sorted(d.dag_id for d in got.dags)
        if "bash_demo" in ids and "user_automation" in ids:
            break
        assert time.time() < deadline, ids
        time.sleep(0.5)
    assert got.total_entries == len(got.dags), got.total_entries
    ua = dags.get_dag("user_automation")
    assert ua.owners == ["airscholar"], ua.owners
    assert ua.is_paused is True, "new DAGs start paused"
    print("get_dags:", ids, "total", got.total_entries)
    for d in ("bash_demo", "user_automation"):
        r = dags.patch_dag(d, DAGPatchBody(is_paused=False), update_mask=["is_paused"])
        assert r.is_paused is False
    assert dags.get_dags(paused=False).total_entries == 2

    runs = DagRunApi(c)
    r = runs.trigger_dag_run("bash_demo", TriggerDAGRunPostBody(
        dag_run_id="client3_run", logical_date=None, conf={"who": "client3"}))
    assert r.dag_run_id == "client3_run" and r.state.value in ("queued", "running"), r
    try:
        runs.trigger_dag_run("bash_demo", TriggerDAGRunPostBody(dag_run_id="client3_run",
                                                                logical_date=None))
        raise SystemExit("duplicate run id accepted")
    except ApiException as e:
        assert e.status == 409, e.status
    ua_run = runs.trigger_dag_run("user_automation", TriggerDAGRunPostBody(logical_date=None))
    assert ua_run.dag_run_id.startswith("manual__"), ua_run.dag_run_id

    def wait(dag, run_id):
        deadline = time.time() + 180
        while True:
            got = runs.get_dag_run(dag, run_id)
            if got.state.value in ("success", "failed"):
                return got
            assert time.time() < deadline, got
            time.sleep(0.5)

    for dag, run_id, task, expect in (("bash_demo", "client3_run", "hello",
                                      'hello from {"who":"client3"}'),
                                      ("user_automation", ua_run.dag_run_id,
                                       "stream_data_from_api", None)):
        done = wait(dag, run_id)
        assert done.state.value == "success", (dag, done.state)
        assert done.dag_versions and done.dag_versions[0].version_number >= 1
        tis = TaskInstanceApi(c).get_task_instances(dag, run_id)
        assert tis.total_entries >= 1
        ti = [t for t in tis.task_instances if t.task_id == task][0]
        assert ti.state.value == "success" and ti.try_number >= 1 and ti.map_index == -1, ti
        log = TaskInstanceApi(c).get_log(dag, run_id, task, ti.try_number)
        lines = [m.event if hasattr(m, "event") else m for m in log.content.actual_instance]
        text = "\n".join(lines)
        assert len(lines) > 0, "empty log"
        if expect:
            assert expect in text, text
        print("run %s.%s: %s, %d task(s), log %d lines" % (dag, run_id, done.state.value,
                                                           tis.total_entries, len(lines)))
    tasks = TaskApi(c).get_tasks("user_automation")
    assert [t.task_id for t in tasks.tasks] == ["stream_data_from_api"], tasks
    assert TaskApi(c).get_task("bash_demo", "hello").retries == 0
    errs = ImportErrorApi(c).get_import_errors()
    assert errs.total_entries >= 1 and any(e.filename.endswith("broken.yaml")
                                           for e in errs.import_errors), errs
    print("import errors:", [(e.filename.rsplit("/", 1)[-1], e.stack_trace.splitlines()[0])
                             for e in errs.import_errors])
    h = MonitorApi(c).get_health()
    assert h.scheduler.status == "healthy", h
    print("health:", h.metadatabase.status, h.scheduler.status)
print("OK")
'''

# Runs inside the 2.x venv, over /api/v1 with HTTP Basic.
CLIENT2 = r'''
import os, time
import airflow_client.client as client
from airflow_client.client.api import dag_api, dag_run_api, task_instance_api, import_error_api
from airflow_client.client.api import monitoring_api
from airflow_client.client.model.dag import DAG
from airflow_client.client.model.dag_run import DAGRun
host = os.environ["HOST"] + "/api/v1"
print("client", client.__version__)
bad = client.Configuration(host=host, username="admin", password="wrong")
with client.ApiClient(bad) as c:
    try:
        dag_api.DAGApi(c).get_dags()
        raise SystemExit("wrong password accepted")
    except client.ApiException as e:
        assert e.status == 401, e.status
cfg = client.Configuration(host=host, username="admin", password=os.environ["PW"])
with client.ApiClient(cfg) as c:
    dags = dag_api.DAGApi(c)
    got = dags.get_dags()
    ids = sorted(d.dag_id for d in got.dags)
    assert "bash_demo" in ids and "user_automation" in ids, ids
    ua = dags.get_dag("user_automation")
    assert ua.is_active is True and ua.schedule_interval["value"] == "0 0 * * *", ua
    print("get_dags:", ids)
    assert dags.patch_dag("bash_demo", DAG(is_paused=True), update_mask=["is_paused"]).is_paused
    assert not dags.patch_dag("bash_demo", DAG(is_paused=False),
                              update_mask=["is_paused"]).is_paused
    runs = dag_run_api.DAGRunApi(c)
    r = runs.post_dag_run("bash_demo", DAGRun(dag_run_id="client2_run", conf={"who": "client2"}))
    assert r.dag_run_id == "client2_run" and r.external_trigger is True, r
    deadline = time.time() + 120
    while True:
        got = runs.get_dag_run("bash_demo", "client2_run")
        if str(got.state) in ("success", "failed"):
            break
        assert time.time() < deadline, got
        time.sleep(0.5)
    assert str(got.state) == "success", got.state
    tis = task_instance_api.TaskInstanceApi(c).get_task_instances("bash_demo", "client2_run")
    ti = [t for t in tis.task_instances if t.task_id == "hello"][0]
    assert str(ti.state) == "success" and ti.try_number >= 1, ti
    log = task_instance_api.TaskInstanceApi(c).get_log("bash_demo", "client2_run", "hello",
                                                       ti.try_number)
    assert 'hello from {"who":"client2"}' in log.content, log.content
    print("run bash_demo.client2_run: success, log %d bytes" % len(log.content))
    tasks = dags.get_tasks("user_automation")
    assert [t.task_id for t in tasks.tasks] == ["stream_data_from_api"], tasks
    assert dags.get_task("bash_demo", "hello").class_ref.class_name == "BashOperator"
    errs = import_error_api.ImportErrorApi(c).get_import_errors()
    assert any(e.filename.endswith("broken.yaml") for e in errs.import_errors), errs
    h = monitoring_api.MonitoringApi(c).get_health()
    assert str(h.metadatabase.status) == "healthy", h
print("OK")
'''

BASH_DAG = """\
bash_demo:
  default_args:
    owner: tester
    start_date: 2024-01-01
  schedule: null
  tags: [demo]
  tasks:
    - task_id: hello
      operator: airflow.providers.standard.operators.bash.BashOperator
      bash_command: 'echo "hello from $SLUICE_CONF"'
"""

UA_DAG = """\
user_automation:
  default_args:
    owner: airscholar
    start_date: 2023-09-03T10:00:00
    retries: 1
    retry_delay: 5s
  schedule: "@daily"
  catchup: false
  tasks:
    - task_id: stream_data_from_api
      operator: sluice.ingest
      source: generator
      bootstrap: "%s"
      topic: users_created
      duration: 3s
"""


def main():
    sluice = os.environ.get("SLUICE_BIN")
    if not sluice or not os.path.exists(sluice):
        print("SLUICE_BIN not set", file=sys.stderr)
        return 1
    build = os.path.dirname(os.path.abspath(sluice))
    py3 = venv(build, "airflow-client-3", "apache-airflow-client>=3.3,<4",
               "import airflow_client.client.api.dag_run_api")
    py2 = venv(build, "airflow-client-2", "apache-airflow-client>=2.10,<3",
               "import airflow_client.client.api.dag_run_api")
    if not py3 or not py2:
        print("SKIP: apache-airflow-client could not be installed (PyPI unreachable?)")
        return SKIP

    work = tempfile.mkdtemp(prefix="sluice-airflow-client-")
    procs = []
    try:
        dags = os.path.join(work, "dags")
        data = os.path.join(work, "data")
        os.makedirs(dags)
        bport, sport = free_port(), free_port()
        with open(os.path.join(dags, "demo.yaml"), "w") as f:
            f.write(BASH_DAG)
        with open(os.path.join(dags, "user_automation.yaml"), "w") as f:
            f.write(UA_DAG % ("127.0.0.1:%d" % bport))
        with open(os.path.join(dags, "broken.yaml"), "w") as f:
            f.write("broken_dag:\n  tasks:\n    - task_id: a\n      dependencies: [nope]\n"
                    "      operator: bash\n      bash_command: 'true'\n")
        env = dict(os.environ)
        env.pop("SLUICE_SCHEDULER_ADMIN_PASSWORD", None)
        logs = {}
        for name, args, port in (
                ("broker", [sluice, "broker", "--listen", "127.0.0.1:%d" % bport,
                            "--data-dir", os.path.join(work, "broker")], bport),
                ("scheduler", [sluice, "scheduler", "--listen", "127.0.0.1:%d" % sport,
                               "--data-dir", data, "--dags-folder", dags], sport)):
            logs[name] = os.path.join(work, name + ".log")
            out = open(logs[name], "wb")
            p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
            procs.append(p)
            wait_port(port, p)

        # The generated admin password: a 0600 file, printed once at start.
        pw_file = os.path.join(data, "scheduler", "admin-password")
        with open(pw_file) as f:
            pw = f.read().strip()
        check(stat.S_IMODE(os.stat(pw_file).st_mode) == 0o600, "admin-password mode 0600")
        with open(logs["scheduler"], "rb") as f:
            slog = f.read().decode("utf-8", "replace")
        check(slog.count("Password for user 'admin': " + pw) == 1, "password printed once")

        host = "http://127.0.0.1:%d" % sport
        # Unauthenticated: 401 on the API, 200 on health.
        try:
            urllib.request.urlopen(host + "/api/v2/dags", timeout=30)
            check(False, "unauthenticated /api/v2/dags answered 2xx")
        except urllib.error.HTTPError as e:
            check(e.code == 401, "unauthenticated /api/v2/dags: %d" % e.code)

        cenv = dict(os.environ, HOST=host, PW=pw)
        for name, py, code in (("3.x", py3, CLIENT3), ("2.x", py2, CLIENT2)):
            r = subprocess.run([py, "-c", code], env=cenv, capture_output=True, timeout=400)
            out = r.stdout.decode("utf-8", "replace")
            print("--- client %s ---\n%s" % (name, out.strip()))
            if not check(r.returncode == 0 and out.rstrip().endswith("OK"),
                         "client %s failed" % name):
                print(r.stderr.decode("utf-8", "replace")[-4000:], file=sys.stderr)

        # The CLI over the same API, with the password from the data dir.
        r = subprocess.run([sluice, "dags", "list", "--url", host, "--data-dir", data],
                           capture_output=True, timeout=60)
        out = r.stdout.decode()
        print("--- sluice dags list ---\n" + out.strip())
        check(r.returncode == 0 and "user_automation" in out and "bash_demo" in out,
              "sluice dags list: rc %d %s" % (r.returncode, r.stderr.decode()[-300:]))
        r = subprocess.run([sluice, "tasks", "logs", "bash_demo", "client3_run", "hello",
                            "--url", host, "--data-dir", data], capture_output=True, timeout=60)
        check(r.returncode == 0 and '"who":"client3"' in r.stdout.decode(),
              "sluice tasks logs: rc %d %r" % (r.returncode, r.stdout.decode()[-300:]))
        def sl(*args):
            r = subprocess.run([sluice] + list(args) + ["--url", host, "--data-dir", data],
                               capture_output=True, timeout=120)
            return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode()

        rc, out, err = sl("dags", "pause", "bash_demo")
        check(rc == 0 and "paused" in out, "sluice dags pause: %d %s" % (rc, err))
        rc, out, err = sl("dags", "trigger", "bash_demo", "--run-id", "cli_run", "--conf",
                          '{"who":"cli"}')
        check(rc == 0 and "cli_run" in out, "sluice dags trigger (paused): %d %s" % (rc, err))
        rc, out, err = sl("dags", "unpause", "bash_demo")
        check(rc == 0 and "unpaused" in out, "sluice dags unpause: %d %s" % (rc, err))
        # --follow returns once the task is finished, with the whole log
        rc, out, err = sl("tasks", "logs", "bash_demo", "cli_run", "hello", "--follow")
        check(rc == 0 and 'hello from {"who":"cli"}' in out,
              "sluice tasks logs --follow: %d %r %s" % (rc, out[-300:], err))
        rc, out, err = sl("dags", "runs", "bash_demo", "--json")
        runs = {r["dag_run_id"]: r for r in json.loads(out)["dag_runs"]} if rc == 0 else {}
        check(runs.get("cli_run", {}).get("triggered_by") == "cli" and
              runs["cli_run"]["state"] == "success", "sluice dags runs --json: %r" % runs.keys())
        rc, out, err = sl("dags", "trigger", "bash_demo", "--run-id", "cli_run")
        check(rc == 1 and "409" in err, "duplicate trigger from the CLI: %d %s" % (rc, err))

        with open(logs["scheduler"], "rb") as f:
            slog = f.read().decode("utf-8", "replace")
        check(slog.count(pw) == 1, "the password appears only in the start-up line")
    except Exception as e:  # noqa: BLE001 - report and fail
        check(False, "error: %r" % e)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if failures:
            for name in ("scheduler", "broker"):
                path = os.path.join(work, name + ".log")
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        print("--- %s log (tail) ---\n%s" % (
                            name, f.read()[-4000:].decode("utf-8", "replace")), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
