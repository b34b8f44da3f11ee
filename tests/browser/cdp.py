"""A small Chrome DevTools Protocol client over --remote-debugging-pipe.

Chromium reads commands from fd 3 and writes replies and events to fd 4,
each a JSON text ended by a NUL byte: no WebSocket, nothing outside
Python's standard library. Used by tests/integration/dashboard.sh through
tests/browser/dashboard.py.
"""
import base64
import ctypes
import fcntl
import json
import os
import queue
import subprocess
import threading
import time


class CDPError(Exception):
    pass


class Browser:
    def __init__(self, chromium, profile_dir, width=1280, height=900, log=None):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # Above 4, so the child's dup2 onto 3 and 4 cannot clobber them.
        hi_r = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
        hi_w = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.close(to_r)
        os.close(from_w)

        def child():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)
            # Chromium dies with this process (PR_SET_PDEATHSIG, SIGKILL): a
            # test killed by its timeout leaves no browser behind.
            ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)

        args = [chromium, "--headless=new", "--remote-debugging-pipe",
                "--user-data-dir=" + profile_dir, "--no-first-run", "--no-default-browser-check",
                "--disable-gpu", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
                "--disable-dev-shm-usage", "--window-size=%d,%d" % (width, height)]
        # Root cannot use Chromium's sandbox, nor can a container without
        # user namespaces; the page is the test's own.
        args += ["--no-sandbox", "about:blank"]
        self.proc = subprocess.Popen(args, preexec_fn=child, close_fds=False,
                                     stdin=subprocess.DEVNULL,
                                     stdout=log or subprocess.DEVNULL,
                                     stderr=log or subprocess.DEVNULL)
        os.close(hi_r)
        os.close(hi_w)
        self.w = to_w
        self.r = from_r
        self.next_id = 0
        self.lock = threading.Lock()
        self.replies = {}
        self.cond = threading.Condition(self.lock)
        self.events = queue.Queue()
        self.errors = []  # uncaught exceptions and console errors of the page
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.session = None

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self.r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                msg, buf = buf.split(b"\0", 1)
                m = json.loads(msg)
                if "id" in m:
                    with self.cond:
                        self.replies[m["id"]] = m
                        self.cond.notify_all()
                else:
                    self._event(m)
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _event(self, m):
        meth = m.get("method")
        p = m.get("params", {})
        if meth == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: %s %s" % (d.get("text", ""), d.get("exception", {}).get("description", "")))
        elif meth == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        self.events.put(m)

    def send(self, method, params=None, session=True, timeout=30):
        with self.lock:
            self.next_id += 1
            i = self.next_id
        m = {"id": i, "method": method, "params": params or {}}
        if session and self.session:
            m["sessionId"] = self.session
        os.write(self.w, json.dumps(m).encode() + b"\0")
        end = time.monotonic() + timeout
        with self.cond:
            while i not in self.replies:
                left = end - time.monotonic()
                if self.closed or left <= 0:
                    raise CDPError("%s: no reply from Chromium%s" % (method, " (it exited)" if self.closed else ""))
                self.cond.wait(left)
            r = self.replies.pop(i)
        if "error" in r:
            raise CDPError("%s: %s" % (method, r["error"].get("message")))
        return r.get("result", {})

    def open_page(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        pages = [t for t in targets if t["type"] == "page"]
        tid = pages[0]["targetId"] if pages else self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": tid, "flatten": True}, session=False)["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")

    def viewport(self, width, height, mobile=False, scale=1):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile})

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CDPError("%s: %s" % (expr[:80], r["exceptionDetails"].get("exception", {}).get("description", r["exceptionDetails"].get("text"))))
        return r.get("result", {}).get("value")

    def wait(self, expr, timeout=20, step=0.1):
        """The first truthy value of expr (an element counts as true), or
        None after timeout seconds."""
        end = time.monotonic() + timeout
        expr = "(function(){var v = (%s); return v instanceof Node ? true : v;})()" % expr
        while True:
            try:
                v = self.eval(expr)
            except CDPError:
                v = None
            if v:
                return v
            if time.monotonic() > end:
                return None
            time.sleep(step)

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        box = self.eval("(function(){var e=document.querySelector(%s); if(!e) return null;"
                        "e.scrollIntoView({block:'center'}); var r=e.getBoundingClientRect();"
                        "return [r.left+r.width/2, r.top+r.height/2];})()" % json.dumps(selector))
        if not box:
            raise CDPError("click: no element %s" % selector)
        for t in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": t, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def type(self, selector, text):
        if not self.eval("(function(){var e=document.querySelector(%s); if(!e) return false; e.focus(); return true;})()" % json.dumps(selector)):
            raise CDPError("type: no element %s" % selector)
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path, full=False):
        p = {"format": "png"}
        if full:
            p["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", p)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.send("Browser.close", session=False, timeout=5)
        except CDPError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
