#!/usr/bin/env python3
"""Checks grafana/dashboards/*.json and, optionally, evaluates every PromQL expression in them.

    python3 grafana/check_dashboard.py                       # structure only
    python3 grafana/check_dashboard.py --list                # print every expression, one a line
    python3 grafana/check_dashboard.py --prometheus http://127.0.0.1:9090 [--instance '.*']

Structure: valid JSON, unique panel ids, a `datasource` template variable of type
`datasource`, and every panel and target using {"type": "prometheus", "uid": "${datasource}"}.

With --prometheus, each expression is evaluated through /api/v1/query after substituting
$__rate_interval (default 1m) and $instance (default .*), and must return a non-empty
result. Standard library only; exits non-zero on any problem.
"""
import argparse
import glob
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WANT_DS = {"type": "prometheus", "uid": "${datasource}"}


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def check_structure(path, dash):
    errors = []
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds_var = variables.get("datasource")
    if not ds_var or ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        errors.append("no template variable 'datasource' of type datasource with query prometheus")
    if "__inputs" in dash or "${DS_" in json.dumps(dash):
        errors.append("dashboard uses import inputs (__inputs / ${DS_...})")
    inst = variables.get("instance")
    if inst is not None and inst.get("datasource") != WANT_DS:
        errors.append("variable 'instance' does not use ${datasource}")
    seen = {}
    for p in walk_panels(dash.get("panels", [])):
        pid = p.get("id")
        if pid is None:
            errors.append(f"panel {p.get('title')!r} has no id")
        elif pid in seen:
            errors.append(f"panel id {pid} used by {seen[pid]!r} and {p.get('title')!r}")
        else:
            seen[pid] = p.get("title")
        if p.get("datasource") != WANT_DS:
            errors.append(f"panel {pid} {p.get('title')!r}: datasource is {p.get('datasource')!r}")
        for t in p.get("targets", []):
            if t.get("datasource") != WANT_DS:
                errors.append(f"panel {pid} target {t.get('refId')}: datasource is {t.get('datasource')!r}")
            if not t.get("expr", "").strip():
                errors.append(f"panel {pid} target {t.get('refId')}: empty expr")
    return [f"{os.path.basename(path)}: {e}" for e in errors]


def expressions(dash):
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title", ""), t.get("refId", ""), t["expr"]


def substitute(expr, rate_interval, instance):
    return expr.replace("$__rate_interval", rate_interval).replace("$instance", instance)


def evaluate(base, expr):
    url = base.rstrip("/") + "/api/v1/query"
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(url, data=data, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        return None, f"{body.get('errorType')}: {body.get('error')}"
    return body["data"]["result"], None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="dashboard JSON files (default: grafana/dashboards/*.json)")
    ap.add_argument("--prometheus", help="Prometheus base URL to evaluate every expression against")
    ap.add_argument("--rate-interval", default="1m", help="value for $__rate_interval (default 1m)")
    ap.add_argument("--instance", default=".*", help="value for $instance (default .*)")
    ap.add_argument("--list", action="store_true", help="print every expression (substituted with --prometheus)")
    args = ap.parse_args()

    files = args.files or sorted(glob.glob(os.path.join(HERE, "dashboards", "*.json")))
    if not files:
        sys.exit("no dashboard files found")
    errors, checked = [], 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            try:
                dash = json.load(f)
            except json.JSONDecodeError as e:
                errors.append(f"{path}: invalid JSON: {e}")
                continue
        errors += check_structure(path, dash)
        for title, ref, expr in expressions(dash):
            if args.list:
                print(expr)
            if not args.prometheus:
                continue
            q = substitute(expr, args.rate_interval, args.instance)
            try:
                result, err = evaluate(args.prometheus, q)
            except (urllib.error.URLError, OSError) as e:
                sys.exit(f"cannot reach Prometheus at {args.prometheus}: {e}")
            checked += 1
            if err:
                errors.append(f"{title!r} {ref}: {err}\n    {q}")
            elif not result:
                errors.append(f"{title!r} {ref}: empty result\n    {q}")
    for e in errors:
        print("FAIL", e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print(f"ok: {len(files)} dashboard(s)" + (f", {checked} expressions returned data" if args.prometheus else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
