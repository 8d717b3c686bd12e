#!/usr/bin/env python3
"""Checks a `fovea export kubernetes-job` manifest offline and runs it here as a cluster would: the manifest is
validated against Kubernetes' own schema (kubernetes-validate, strict), then every index of the Indexed Job runs its
container command at the same time with JOB_COMPLETION_INDEX set, the volumes' mount paths mapped to local folders,
and the merge Job's command beside them. Exit 0 when validation and every pod succeed.

usage: run_k8s_job_locally.py MANIFEST --fovea BIN --models DIR --data DIR
"""
import argparse, os, subprocess, sys
import yaml

ap = argparse.ArgumentParser()
ap.add_argument("manifest"); ap.add_argument("--fovea", required=True); ap.add_argument("--models", required=True); ap.add_argument("--data", required=True)
a = ap.parse_args()
v = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", a.manifest], capture_output=True, text=True)
if v.returncode != 0:
    print("kubernetes-validate failed:", v.stdout, v.stderr)
    sys.exit(1)
docs = [d for d in yaml.safe_load_all(open(a.manifest)) if d]
indexed = [d for d in docs if d["spec"].get("completionMode") == "Indexed"]
others = [d for d in docs if d not in indexed]
assert len(indexed) == 1 and len(others) == 1, "expected one Indexed Job and one merge Job"
mounts = {"/models": a.models, "/data": a.data}

def local(cmd, pod):
    c = pod["containers"][0]
    mp = {m["mountPath"]: mounts[m["mountPath"]] for m in c["volumeMounts"]}
    out = []
    for x in cmd:
        for k, p in mp.items():
            if x == k or x.startswith(k + "/"):
                x = p + x[len(k):]
        out.append(x)
    assert out[0] == "fovea", out
    return [a.fovea] + out[1:], {e["name"]: e["value"] for e in c.get("env", [])}

job = indexed[0]
n = job["spec"]["completions"]
procs = []
for i in range(n):
    pod = job["spec"]["template"]["spec"]
    cmd, env = local(pod["containers"][0]["command"], pod)
    procs.append(subprocess.Popen(cmd, env={**os.environ, **env, "JOB_COMPLETION_INDEX": str(i)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
pod = others[0]["spec"]["template"]["spec"]
mcmd, menv = local(pod["containers"][0]["command"], pod)
merge = subprocess.Popen(mcmd, env={**os.environ, **menv}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
bad = 0
for i, p in enumerate(procs):
    out, err = p.communicate()
    if p.returncode != 0:
        print(f"index {i} failed ({p.returncode}): {err}"); bad += 1
if bad:
    merge.terminate()  # a shard failed: the merge would wait for its mini-batches forever
try:
    out, err = merge.communicate(timeout=300)
except subprocess.TimeoutExpired:
    merge.kill()
    out, err = merge.communicate()
    err = "timed out waiting for the shards\n" + err
if merge.returncode != 0:
    print(f"merge failed ({merge.returncode}): {err}"); bad += 1
print(f"{n} indexes and the merge ran; {bad} failed")
sys.exit(1 if bad else 0)
