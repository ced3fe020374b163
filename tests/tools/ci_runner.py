#!/usr/bin/env python3
"""Runs one job of a GitHub Actions workflow or an Azure DevOps pipeline, or a composite
GitHub Action, on this machine, as the hosted runners would (tests/sh/ci_workflows.sh):

  ci_runner.py github WORKFLOW.yml JOB   [options]
  ci_runner.py ado    PIPELINE.yml JOB   [options]
  ci_runner.py action ACTION.yml         [options] [--with NAME=VALUE]...

Every `run:` / `bash:` step runs (bash with the runner's flags, the step's env, working
directory and expressions substituted); `uses: amlsec/amlsec@...` runs the composite action
(action.yml: its install step and its gate step, with the step's `with:` inputs); the other
actions and tasks a pipeline uses are played by checks of what they would read (the SARIF
file code scanning uploads, the comment file, the JUnit files, artifacts carried between jobs).
An expression, action or step kind this runner does not know is an error, so a pipeline
cannot silently do more than the test runs.

Options: --workspace DIR (the checkout), --runner DIR (logs, outputs, artifacts, uploads;
kept across jobs), --var NAME=VALUE (GitHub `vars`, Azure DevOps variables), --secret
NAME=VALUE, --env NAME=VALUE (forced over the pipeline's env: the local cloud's endpoint),
--github NAME=VALUE (github context: event_name, event.after, ...), --skip STEPNAME (a step
that cannot run offline, reported as skipped), --action-path DIR (where amlsec/amlsec@ is).

Writes RUNNER/JOB.steps.json ([{name, kind, status, rc, log}]) and each step's output to
RUNNER/JOB.N.out; exits 0 when the job succeeded, 1 when it failed, 3 on a runner error."""
import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
MACRO = re.compile(r"\$\(([A-Za-z0-9_.]+)\)")


class RunnerError(Exception):
    pass


class Ctx:
    def __init__(self, a):
        self.a = a
        self.vars = dict(kv(x) for x in a.var)
        self.secrets = dict(kv(x) for x in a.secret)
        self.forced = dict(kv(x) for x in a.env)
        self.github = dict(kv(x) for x in a.github)
        self.env = {}
        self.steps = {}      # id -> outputs
        self.inputs = None   # composite action inputs
        self.status = "success"
        self.path = []       # GITHUB_PATH additions


def kv(s):
    k, _, v = s.partition("=")
    return k, v


# ---- GitHub expressions ---------------------------------------------------------------------

def lookup(ctx, path):
    p = path.split(".")
    if p[0] == "vars":
        return ctx.vars.get(p[1], "")
    if p[0] == "secrets":
        return ctx.secrets.get(p[1], "")
    if p[0] == "inputs":
        if ctx.inputs is None or p[1] not in ctx.inputs:
            raise RunnerError(f"unknown input {path}")
        return ctx.inputs[p[1]]
    if p[0] == "steps" and len(p) == 4 and p[2] == "outputs":
        return ctx.steps.get(p[1], {}).get(p[3], "")
    if p[0] == "github":
        key = ".".join(p[1:])
        if key not in ctx.github:
            raise RunnerError(f"github context {path} not given (--github {key}=...)")
        return ctx.github[key]
    if p[0] == "env":
        return ctx.env.get(p[1], "")
    raise RunnerError(f"unsupported expression '{path}'")


def evaluate(ctx, e):
    e = e.strip()
    if e in ("always()", "success()", "failure()", "cancelled()"):
        return {"always()": True, "success()": ctx.status == "success",
                "failure()": ctx.status == "failure", "cancelled()": False}[e]
    m = re.fullmatch(r"(.+?)\s*(==|!=)\s*'([^']*)'", e)
    if m:
        v = str(evaluate(ctx, m.group(1)))
        return (v == m.group(3)) == (m.group(2) == "==")
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", e):
        return lookup(ctx, e)
    raise RunnerError(f"unsupported expression '{e}'")


def subst(ctx, text):
    if not isinstance(text, str):
        return "" if text is None else str(text).lower() if isinstance(text, bool) else str(text)
    return EXPR.sub(lambda m: str(evaluate(ctx, m.group(1))), text)


def condition(ctx, cond):
    if cond is None:
        return ctx.status == "success"
    if isinstance(cond, bool):
        return cond
    m = EXPR.fullmatch(cond.strip())
    c = m.group(1) if m else cond
    if not re.search(r"always\(\)|failure\(\)|success\(\)|cancelled\(\)", c) and ctx.status != "success":
        return False
    return bool(evaluate(ctx, c))


# ---- running scripts ------------------------------------------------------------------------

class StepLog:
    def __init__(self, ctx, job):
        self.ctx, self.job, self.n, self.steps = ctx, job, 0, []

    def next(self):
        self.n += 1
        return os.path.join(self.ctx.a.runner, f"{self.job}.{self.n}.out")

    def record(self, name, kind, status, rc, log):
        self.steps.append({"name": name, "kind": kind, "status": status, "rc": rc, "log": log})


def base_env(ctx, extra):
    env = dict(os.environ)
    env.update(ctx.env)
    env.update(extra)
    env.update(ctx.forced)
    env["PATH"] = ":".join(ctx.path + [env.get("PATH", "")])
    return env


def run_script(ctx, argv, script, env, cwd, log):
    path = log[:-4] + ".sh"
    with open(path, "w") as f:
        f.write(script)
    with open(log, "w") as out:
        p = subprocess.run(argv + [path], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    return p.returncode


def read_kv_file(path):
    out, lines = {}, open(path).read().split("\n") if os.path.exists(path) else []
    i = 0
    while i < len(lines):
        l = lines[i]
        m = re.match(r"^([^=<]+)<<(.+)$", l)
        if m:
            val, i = [], i + 1
            while i < len(lines) and lines[i] != m.group(2):
                val.append(lines[i])
                i += 1
            out[m.group(1)] = "\n".join(val)
        elif "=" in l:
            k, v = kv(l)
            out[k] = v
        i += 1
    return out


# ---- GitHub -----------------------------------------------------------------------------------

SHELLS = {None: ["bash", "-e"], "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
          "sh": ["sh", "-e"]}


def gh_steps(ctx, steps, log, cwd, composite=False):
    for i, st in enumerate(steps):
        name = st.get("name") or st.get("uses") or f"step {i + 1}"
        if name in ctx.a.skip:
            log.record(name, "skipped", "skipped", None, None)
            continue
        if not condition(ctx, st.get("if")):
            log.record(name, "run" if "run" in st else "uses", "not run", None, None)
            continue
        if "run" in st:
            if composite and "shell" not in st:
                raise RunnerError(f"composite step '{name}' has no shell (GitHub requires one)")
            if st.get("shell") not in SHELLS:
                raise RunnerError(f"unsupported shell {st.get('shell')}")
            out = log.next()
            files = {k: out[:-4] + "." + k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}
            for f in files.values():
                open(f, "w").close()
            extra = {k: subst(ctx, v) for k, v in (st.get("env") or {}).items()}
            extra.update(files)
            extra["GITHUB_STEP_SUMMARY"] = os.path.join(ctx.a.runner, "step_summary.md")
            extra["RUNNER_TEMP"] = os.path.join(ctx.a.runner, "temp")
            extra["GITHUB_WORKSPACE"] = ctx.a.workspace
            if composite:
                extra["GITHUB_ACTION_PATH"] = ctx.a.action_path
            os.makedirs(extra["RUNNER_TEMP"], exist_ok=True)
            wd = os.path.join(cwd, subst(ctx, st.get("working-directory") or "."))
            rc = run_script(ctx, SHELLS[st.get("shell")], subst(ctx, st["run"]),
                            base_env(ctx, extra), wd, out)
            if st.get("id"):
                ctx.steps[st["id"]] = read_kv_file(files["GITHUB_OUTPUT"])
            ctx.env.update(read_kv_file(files["GITHUB_ENV"]))
            ctx.path = [p for p in open(files["GITHUB_PATH"]).read().split("\n") if p] + ctx.path
            ok = rc == 0
            log.record(name, "run", "success" if ok else "failure", rc, out)
        elif "uses" in st:
            out = log.next()
            ok = gh_uses(ctx, st, log, cwd, out)
            log.record(name, "uses", "success" if ok else "failure", None, out)
        else:
            raise RunnerError(f"step '{name}' is neither run nor uses")
        if not ok and not st.get("continue-on-error"):
            ctx.status = "failure"


def gh_uses(ctx, st, log, cwd, out):
    uses, w = st["uses"], {k: subst(ctx, v) for k, v in (st.get("with") or {}).items()}
    action = uses.split("@")[0]
    note = open(out, "w")
    if action == "amlsec/amlsec" or uses == "./":
        return composite(ctx, st, w, log, cwd, note)
    if action == "actions/checkout":
        note.write("the workspace is the checkout\n")
        return True
    if action == "github/codeql-action/upload-sarif":
        path = os.path.join(cwd, w["sarif_file"])
        doc = json.load(open(path))  # a missing or broken file fails the upload
        if doc.get("version") != "2.1.0" or not isinstance(doc.get("runs"), list):
            raise RunnerError(f"{path} is not SARIF 2.1.0")
        dest = os.path.join(ctx.a.runner, "uploads", f"sarif-{w.get('category', 'default')}.json")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(path, dest)
        note.write(f"uploaded {path} to code scanning\n")
        return True
    if action == "marocchino/sticky-pull-request-comment":
        path = os.path.join(cwd, w["path"])
        text = open(path).read()
        if not text.strip() or len(text) > 65536:
            raise RunnerError(f"comment {path} is empty or over GitHub's 65,536 characters")
        shutil.copy(path, os.path.join(ctx.a.runner, f"comment-{w.get('header', 'default')}.md"))
        return True
    if action == "actions/upload-artifact":
        dest = os.path.join(ctx.a.runner, "artifacts", w["name"])
        os.makedirs(dest, exist_ok=True)
        src = os.path.join(cwd, w["path"])
        shutil.copy(src, dest)
        note.write(f"artifact {w['name']}: {w['path']}\n")
        return True
    if action == "dawidd6/action-download-artifact":
        src = os.path.join(ctx.a.runner, "artifacts", w["name"])
        if not os.path.isdir(src):
            note.write(f"no artifact {w['name']}\n")
            return False
        for f in os.listdir(src):
            shutil.copy(os.path.join(src, f), cwd)
        return True
    raise RunnerError(f"unknown action {uses}")


def composite(ctx, st, w, log, cwd, note):
    doc = yaml.safe_load(open(os.path.join(ctx.a.action_path, "action.yml")))
    if doc["runs"]["using"] != "composite":
        raise RunnerError("not a composite action")
    inputs = {}
    for k, spec in (doc.get("inputs") or {}).items():
        if k in w:
            inputs[k] = w[k]
        elif spec.get("required") and "default" not in spec:
            raise RunnerError(f"input {k} is required")
        else:
            inputs[k] = str(spec.get("default", ""))
    for k in w:
        if k not in inputs:
            raise RunnerError(f"the action has no input {k}")
    outer = (ctx.inputs, ctx.steps, ctx.status)
    ctx.inputs, ctx.steps, ctx.status = inputs, {}, "success"
    try:
        gh_steps(ctx, doc["runs"]["steps"], log, cwd, composite=True)
        outputs = {k: subst(ctx, v["value"]) for k, v in (doc.get("outputs") or {}).items()}
        ok = ctx.status == "success"
    finally:
        ctx.inputs, ctx.steps, ctx.status = outer
    if st.get("id"):
        ctx.steps[st["id"]] = outputs
    note.write(json.dumps({"inputs": inputs, "outputs": outputs}) + "\n")
    return ok


def github(ctx, doc, job):
    log = StepLog(ctx, job)
    ctx.env = {k: subst(ctx, v) for k, v in (doc.get("env") or {}).items()}
    j = doc["jobs"][job]
    ctx.env.update({k: subst(ctx, v) for k, v in (j.get("env") or {}).items()})
    gh_steps(ctx, j["steps"], log, ctx.a.workspace)
    return log


def action(ctx, path):
    log = StepLog(ctx, "action")
    w = dict(kv(x) for x in ctx.a.with_)
    st = {"uses": "./", "id": "action", "with": w}
    ok = composite(ctx, st, w, log, ctx.a.workspace, open(log.next(), "w"))
    open(os.path.join(ctx.a.runner, "action.outputs.json"), "w").write(json.dumps(ctx.steps["action"]))
    if not ok:
        ctx.status = "failure"
    return log


# ---- Azure DevOps -----------------------------------------------------------------------------

def ado_macro(ctx, text):
    def rep(m):
        k = m.group(1)
        if k in ctx.vars:
            return ctx.vars[k]
        if k in ctx.secrets:
            return ctx.secrets[k]
        return m.group(0)  # Azure DevOps leaves unknown macros as they are
    return MACRO.sub(rep, text) if isinstance(text, str) else "" if text is None else str(text)


def ado_env_of_vars(ctx):
    # non-secret variables reach scripts as environment variables (NAME.x -> NAME_X)
    return {k.upper().replace(".", "_"): v for k, v in ctx.vars.items()}


def ado_condition(ctx, cond):
    if cond is None:
        return ctx.status == "success"
    c = cond.strip()
    if c == "always()":
        return True
    if c == "succeeded()":
        return ctx.status == "success"
    if c == "failed()":
        return ctx.status == "failure"
    raise RunnerError(f"unsupported condition '{c}'")


def ado(ctx, doc, job):
    log = StepLog(ctx, job)
    pipeline_ws = os.path.join(ctx.a.runner, "pipeline")
    os.makedirs(pipeline_ws, exist_ok=True)
    for k, v in (doc.get("variables") or {}).items():
        ctx.vars.setdefault(k, ado_macro(ctx, v))
    ctx.vars.setdefault("Pipeline.Workspace", pipeline_ws)
    ctx.vars.setdefault("Agent.TempDirectory", os.path.join(ctx.a.runner, "temp"))
    found = None
    for stage in doc.get("stages", []):
        for j in stage.get("jobs", []):
            if j.get("job") == job or j.get("deployment") == job:
                found = j
    if found is None:
        raise RunnerError(f"no job {job}")
    deployment = "deployment" in found
    steps = found["strategy"]["runOnce"]["deploy"]["steps"] if deployment else found["steps"]
    # a deployment job checks nothing out unless it says so
    cwd = ctx.a.workspace
    if deployment and not any(s.get("checkout") == "self" for s in steps):
        cwd = os.path.join(ctx.a.runner, "deployment-workdir")
        os.makedirs(cwd, exist_ok=True)
    ctx.vars.setdefault("System.DefaultWorkingDirectory", cwd)
    for i, st in enumerate(steps):
        name = st.get("displayName") or st.get("task") or next(iter(st))
        if name in ctx.a.skip:
            log.record(name, "skipped", "skipped", None, None)
            continue
        if not ado_condition(ctx, st.get("condition")):
            log.record(name, next(iter(st)), "not run", None, None)
            continue
        out = log.next()
        ok = True
        if "bash" in st:
            extra = ado_env_of_vars(ctx)
            extra.update({k: ado_macro(ctx, v) for k, v in (st.get("env") or {}).items()})
            rc = run_script(ctx, ["bash", "--noprofile", "--norc"], ado_macro(ctx, st["bash"]),
                            base_env(ctx, extra), cwd, out)
            for line in open(out).read().split("\n"):
                m = re.match(r"^##vso\[task\.setvariable variable=([^;\]]+)[^\]]*\](.*)$", line)
                if m:
                    ctx.vars[m.group(1)] = m.group(2)
                m = re.match(r"^##vso\[task\.uploadsummary\](.*)$", line)
                if m and not os.path.isfile(os.path.join(cwd, m.group(1))):
                    raise RunnerError(f"uploadsummary: no file {m.group(1)}")
            ok = rc == 0
            log.record(name, "bash", "success" if ok else "failure", rc, out)
        elif "checkout" in st:
            open(out, "w").write("the workspace is the checkout\n")
            log.record(name, "checkout", "success", None, out)
        elif st.get("task") == "PublishTestResults@2":
            inp = st["inputs"]
            if inp["testResultsFormat"] != "JUnit":
                raise RunnerError("only JUnit results are checked")
            files = sorted(glob.glob(os.path.join(cwd, inp["testResultsFiles"])))
            with open(out, "w") as f:
                for p in files:
                    root = ET.parse(p).getroot()  # a file that does not parse fails the task
                    if root.tag not in ("testsuites", "testsuite"):
                        raise RunnerError(f"{p}: not JUnit")
                    f.write(f"published {p}: {root.get('tests')} tests, {root.get('failures')} failures\n")
            ok = bool(files)
            log.record(name, "task", "success" if ok else "failure", None, out)
        elif "publish" in st:
            dest = os.path.join(ctx.a.runner, "artifacts", st["artifact"])
            os.makedirs(dest, exist_ok=True)
            shutil.copy(os.path.join(cwd, ado_macro(ctx, st["publish"])), dest)
            log.record(name, "publish", "success", None, out)
        elif "download" in st:
            src = os.path.join(ctx.a.runner, "artifacts", st["artifact"])
            ok = os.path.isdir(src)
            if ok:
                shutil.copytree(src, os.path.join(pipeline_ws, st["artifact"]), dirs_exist_ok=True)
            log.record(name, "download", "success" if ok else "failure", None, out)
        else:
            raise RunnerError(f"unknown step kind {list(st)}")
        if not ok:
            ctx.status = "failure"
    return log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["github", "ado", "action"])
    ap.add_argument("file")
    ap.add_argument("job", nargs="?", default="action")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--runner", required=True)
    ap.add_argument("--action-path", default=".")
    for o in ("var", "secret", "env", "github", "skip"):
        ap.add_argument("--" + o, action="append", default=[])
    ap.add_argument("--with", dest="with_", action="append", default=[])
    a = ap.parse_args()
    a.workspace, a.runner = os.path.abspath(a.workspace), os.path.abspath(a.runner)
    a.action_path = os.path.abspath(a.action_path)
    os.makedirs(a.runner, exist_ok=True)
    ctx = Ctx(a)
    try:
        if a.kind == "action":
            log = action(ctx, a.file)
        else:
            doc = yaml.safe_load(open(a.file))
            log = github(ctx, doc, a.job) if a.kind == "github" else ado(ctx, doc, a.job)
    except (RunnerError, KeyError, OSError, ValueError, ET.ParseError) as e:
        print(f"ci_runner: {a.file} {a.job}: {type(e).__name__}: {e}", file=sys.stderr)
        return 3
    with open(os.path.join(a.runner, f"{a.job}.steps.json"), "w") as f:
        json.dump(log.steps, f, indent=1)
    for s in log.steps:
        print(f"{a.job}: {s['status']:8} {s['kind']:8} {s['name']}")
    return 0 if ctx.status == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
