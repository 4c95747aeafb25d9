"""Opens the MLflow UI's runs page of an experiment in headless Chromium (Debian's
`chromium`, driven over the DevTools protocol with aiohttp from .venv-mlflow) and checks
that the page shows the given run names: the study's parent run, then, once its row is
expanded (the UI nests child runs under their parent, collapsed), each child run. Keeps a
screenshot and the page's text. Exit 0 when every name was shown, 1 otherwise (what was
missing is printed).

  mlflow_ui_check.py URI EXPERIMENT_ID OUT_DIR PARENT_NAME CHILD_NAME...

The UI is a React app that renders after the page has loaded: each step waits for the
text it needs, bounded by DDPC_UI_WAIT seconds (default 180, for a loaded machine).
"""
import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import aiohttp

WAIT = float(os.environ.get("DDPC_UI_WAIT", "180"))
# The expander in a parent run's name cell (MLflow's RunNameCellRenderer).
EXPANDER = "button[data-component-id$='runnamecellrenderer.tsx_46']"


class Page:
    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json()
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def eval(self, expression):
        r = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")

    async def text(self):
        return await self.eval("document.body ? document.body.innerText : ''") or ""

    async def wait_for(self, names, what):
        deadline = time.monotonic() + WAIT
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if all(n in text for n in names):
                return text, []
            await asyncio.sleep(0.5)
        return text, [n for n in names if n not in text]


def start_chromium(profile):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("SKIPPED: no chromium")
        sys.exit(77)
    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1600,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"DevTools listening on (ws://[^\s]+)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    raise RuntimeError("chromium did not start its DevTools endpoint")


async def run(uri, experiment_id, out_dir, parent, children):
    profile = tempfile.mkdtemp(prefix="ddpc-chromium-")
    proc, browser_ws = start_chromium(profile)
    missing = []
    try:
        port = re.search(r":(\d+)/", browser_ws).group(1)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
                targets = await r.json(content_type=None)
            page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
            async with http.ws_connect(page_ws, max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                url = f"{uri}/#/experiments/{experiment_id}/runs"
                await page.call("Page.navigate", url=url)
                text, missing = await page.wait_for([parent], "the parent run")
                print(("ok: " if not missing else "MISSING: ") + f"the parent run '{parent}' on {url}")
                if not missing:
                    clicked = await page.eval(
                        f"(() => {{ const b = document.querySelectorAll(\"{EXPANDER}\"); b.forEach(x => x.click()); return b.length; }})()")
                    print(f"expanded {clicked} parent row(s)")
                    text, missing = await page.wait_for(children, "the child runs")
                    for c in children:
                        print(("ok: " if c not in missing else "MISSING: ") + f"the child run '{c}'")
                shot = await page.call("Page.captureScreenshot", format="png")
                os.makedirs(out_dir, exist_ok=True)
                with open(os.path.join(out_dir, "experiment.png"), "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                with open(os.path.join(out_dir, "experiment.txt"), "w") as f:
                    f.write(text)
                print(f"screenshot: {os.path.join(out_dir, 'experiment.png')}")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
    return missing


def main(argv):
    if len(argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    uri, experiment_id, out_dir, parent, children = argv[1], argv[2], argv[3], argv[4], argv[5:]
    missing = asyncio.run(run(uri, experiment_id, out_dir, parent, children))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
