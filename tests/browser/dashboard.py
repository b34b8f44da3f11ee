"""The dashboard in headless Chromium (tests/integration/dashboard.sh).

Drives the page like a person: log in with a token, look at the
Transcoders, submit jobs through the form, watch one's progress move, press
Drain and Undrain, cancel; checks the escaping of a hostile job name and the
phone layout. Prints "RESULT 0|1 NAME", "DIAG TEXT" and "ARTIFACT PATH"
lines that dashboard.sh turns into TAP. Every wait is for a condition of the
page's DOM, with a bound.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

XSS = '<img src=x onerror="window.__xss=1">'


def out(*a):
    print(*a, flush=True)


def result(ok, name, why=""):
    out("RESULT %d %s" % (0 if ok else 1, name))
    if not ok and why:
        for line in str(why).splitlines():
            out("DIAG   " + line)
    return ok


def js(s):
    return json.dumps(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ctl", required=True, help="command line of distconvctl for this cluster")
    ap.add_argument("--input", required=True, help="a long clip on the coordinator's shared storage")
    ap.add_argument("--artifacts", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--profile", help="Chromium's profile directory (default: a new temporary one)")
    ap.add_argument("--drain", default="w2", help="the worker to drain")
    ap.add_argument("--stop", help="a command that stops the worker --drain names")
    ap.add_argument("--expect-live", action="store_true", help="the SSE stream must be up")
    a = ap.parse_args()
    os.makedirs(a.artifacts, exist_ok=True)
    profile = a.profile or tempfile.mkdtemp(prefix="dcv-chromium.")
    log = open(os.path.join(a.artifacts, "dashboard-chromium.log"), "wb")
    b = cdp.Browser(a.chromium, profile, log=log)
    try:
        b.open_page()
        run(b, a)
    except cdp.CDPError as e:
        result(False, "the browser session ran to its end", e)
    finally:
        b.close()
        if not a.profile:
            subprocess.run(["rm", "-rf", profile])


def shot(b, a, name):
    p = os.path.join(a.artifacts, "dashboard-%s.png" % name)
    b.screenshot(p)
    out("ARTIFACT " + p)


def ctl_json(a, *args):
    p = subprocess.run(shlex.split(a.ctl) + ["--json"] + list(args), capture_output=True, text=True)
    if p.returncode:
        raise cdp.CDPError("distconvctl %s: %s" % (" ".join(args), p.stderr.strip()))
    return json.loads(p.stdout)


def submit_form(b, source, name, codec, preset, extra=""):
    b.eval("location.hash = '#/submit'")
    if not b.wait("document.querySelector('#submit-form')"):
        return None, "no submit form"
    b.type("#f-source", source)
    if name:
        b.type("#f-name", name)
    b.eval("document.querySelector('#f-codec').value = %s" % js(codec))
    if preset:
        b.eval("document.querySelector('#f-preset').value = %s" % js(preset))
    if extra:
        b.type("#f-extra", extra)
    b.click("#f-go")
    h = b.wait("location.hash.indexOf('#/jobs/') === 0 && location.hash.slice(7) || "
               "(document.querySelector('#submit-error') || {}).textContent && "
               "'ERROR ' + document.querySelector('#submit-error').textContent")
    if not h or h.startswith("ERROR "):
        return None, h or "no job page after submit"
    return h, ""


def pct_of(b, sel):
    return b.eval("(function(){var e=document.querySelector(%s); return e ? "
                  "parseFloat(e.getAttribute('aria-valuenow')) : -1;})()" % js(sel))


def run(b, a):
    # Anonymous: loopback with http.anonymous = viewer shows data read-only.
    b.navigate(a.url + "/")
    n = b.wait("document.querySelectorAll('[data-worker]').length")
    ro = b.eval("!document.querySelector('[data-action=drain]') && !!document.querySelector('#login-link')")
    result(n == 2 and ro, "anonymous on loopback: both workers shown read-only, with a log-in link",
           "workers %s, read-only %s" % (n, ro))

    # A wrong token: the API's error in the page.
    b.click("#login-link")
    b.wait("document.querySelector('#login-form')")
    b.type("#token", "dcv_wrong")
    b.click("#login-go")
    err = b.wait("document.querySelector('#login-error').textContent")
    result(bool(err) and "401" in err, "a wrong token: the API's error shown in the page", err)

    # The operator's token.
    b.eval("document.querySelector('#token').value = ''")
    b.type("#token", a.token)
    b.click("#login-go")
    who = b.wait("(function(){var w=document.querySelector('#whoami[data-role=operator]');"
                 "return w && w.textContent;})()")
    result(bool(who) and "ops" in who, "logged in through the page as ops, operator", who)

    # Transcoders: both workers online, capabilities, live figures.
    b.eval("location.hash = '#/transcoders'")
    ok = b.wait("document.querySelectorAll('[data-worker][data-state=online]').length === 2 && "
                "document.querySelectorAll('[data-worker] [data-device=cpu]').length >= 2 && "
                "document.querySelectorAll('[data-worker] [data-action=drain]').length === 2")
    result(bool(ok), "Transcoders: both workers online, their devices and Drain buttons",
           b.eval("document.querySelector('main').innerText"))
    cpu = b.eval("[].map.call(document.querySelectorAll('[data-metric=cpu] .v'), function(e){return e.textContent})")
    result(bool(cpu) and all("%" in c for c in cpu), "CPU figures on each worker card", cpu)
    live = b.wait("document.querySelector('#live').getAttribute('data-mode') === 'live'", timeout=10)
    if a.expect_live:
        result(bool(live), "live updates over GET /api/v1/events",
               b.eval("document.querySelector('#live').getAttribute('data-mode')"))
    shot(b, a, "transcoders")

    # A job through the form, long enough to watch.
    jid, why = submit_form(b, a.input, "long clip", "h264", "veryslow", "threads=1")
    result(bool(jid), "a job submitted through the form (shared path)", why)
    if not jid:
        return
    out("DIAG long job " + jid)
    # pct is the phase's (fetch, encode, upload, verify): watch the encode.
    st = b.wait("(function(){var e=document.querySelector('#job[data-state=running][data-phase=encode]');"
                "var p=document.querySelector('#job [role=progressbar]');"
                "return e && p && parseFloat(p.getAttribute('aria-valuenow')) > 0;})()", timeout=30)
    p1 = pct_of(b, "#job [role=progressbar]")
    moved = st and b.wait("document.querySelector('#job[data-phase=encode]') && "
                          "parseFloat(document.querySelector('#job [role=progressbar]')"
                          ".getAttribute('aria-valuenow')) > %f" % p1, timeout=20)
    p2 = pct_of(b, "#job [role=progressbar]")
    result(bool(moved), "the running job's progress moves in the page (%.1f %% -> %.1f %%)" % (p1, p2),
           b.eval("document.querySelector('main').innerText"))
    shot(b, a, "job")
    b.eval("location.hash = '#/jobs'")
    ok = b.wait("document.querySelector('#jobs tr[data-job=\"%s\"][data-state=running] [role=progressbar]')" % jid)
    result(bool(ok), "the Jobs page lists it running with a progress bar")
    worker = ctl_json(a, "status", jid).get("worker")
    out("DIAG long job runs on " + str(worker))

    # A hostile name: text in the page, never markup.
    xid, why = submit_form(b, a.input, XSS, "av1", "")
    result(bool(xid), "a job named %s submitted" % XSS, why)
    if xid:
        shown = b.wait("(function(){var h=document.querySelector('#job .job-name');"
                       "return h && h.textContent;})()")
        b.eval("location.hash = '#/jobs'")
        row = b.wait("(function(){var r=document.querySelector('#jobs tr[data-job=\"%s\"] .job-name');"
                     "return r && r.textContent;})()" % xid)
        imgs = b.eval("document.querySelectorAll('main img, #banner img').length")
        xss = b.eval("window.__xss === undefined")
        result(shown == XSS and row == XSS and imgs == 0 and xss,
               "the hostile name is shown as text on the job's page and in the list; no element made of it",
               "job page %r, list %r, imgs %s" % (shown, row, imgs))

    # Drain and undrain with the buttons; distconvctl sees the same.
    b.eval("location.hash = '#/transcoders'")
    sel = "[data-worker=%s]" % a.drain
    b.wait("document.querySelector('%s [data-action=drain]')" % sel)
    b.click("%s [data-action=drain]" % sel)
    ok = b.wait("document.querySelector('%s[data-state=draining] [data-action=undrain]')" % sel)
    ws = {w["worker_id"]: w for w in ctl_json(a, "workers")["workers"]}
    result(bool(ok) and ws.get(a.drain, {}).get("draining") is True,
           "Drain pressed: %s draining in the page and in distconvctl workers" % a.drain,
           "page %s, ctl %s" % (ok, ws.get(a.drain)))
    shot(b, a, "drained")
    b.click("%s [data-action=undrain]" % sel)
    ok = b.wait("document.querySelector('%s[data-state=online] [data-action=drain]')" % sel)
    ws = {w["worker_id"]: w for w in ctl_json(a, "workers")["workers"]}
    result(bool(ok) and ws.get(a.drain, {}).get("draining") is False,
           "Undrain pressed: %s online again in the page and in distconvctl" % a.drain)

    # A phone: 375 px wide, nothing wider than the screen.
    b.viewport(375, 812, mobile=True, scale=2)
    b.eval("location.hash = '#/jobs'")
    b.wait("document.querySelector('#jobs tr[data-job]')")
    wide = b.eval("document.documentElement.scrollWidth")
    result(wide is not None and wide <= 375, "375 px wide (phone): no horizontal scrolling (%s px)" % wide)
    shot(b, a, "phone-jobs")
    # ... in the dark theme the system asks for.
    b.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    b.eval("location.hash = '#/transcoders'")
    b.wait("document.querySelectorAll('[data-worker]').length === 2")
    dark = b.eval("getComputedStyle(document.body).backgroundColor")
    result(dark == "rgb(15, 18, 22)", "prefers-color-scheme: dark gives the dark theme (%s)" % dark)
    wide = b.eval("document.documentElement.scrollWidth")
    result(wide is not None and wide <= 375, "the Transcoders page on a phone fits too (%s px)" % wide)
    shot(b, a, "phone-transcoders-dark")
    b.send("Emulation.setEmulatedMedia", {"features": []})
    b.viewport(1280, 900)

    # Cancel the long job from its page.
    b.eval("location.hash = %s" % js("#/jobs/" + jid))
    b.wait("document.querySelector('#job [data-action=cancel]')")
    b.click("#job [data-action=cancel]")
    ok = b.wait("document.querySelector('#job[data-state=cancelled] [data-action=retry]')")
    result(bool(ok) and ctl_json(a, "status", jid)["state"] == "cancelled",
           "Cancel pressed: the job is cancelled in the page and in distconvctl, Retry offered")

    # A worker that goes away: offline in the page, from the events alone.
    if a.stop:
        b.eval("location.hash = '#/transcoders'")
        subprocess.run(a.stop, shell=True)
        ok = b.wait("document.querySelector('%s[data-state=offline] .pill.offline')" % sel)
        result(bool(ok), "%s stopped: offline on the Transcoders page" % a.drain)

    # Log out: back to anonymous.
    b.click("#logout")
    ok = b.wait("document.querySelector('#whoami[data-role=viewer]') && document.querySelector('#login-link')")
    result(bool(ok), "Log out: the page is anonymous again")

    result(not b.errors, "no uncaught exception or console error in the page", "\n".join(b.errors))


if __name__ == "__main__":
    main()
