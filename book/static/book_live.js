// "Live code": the theme's launch menu calls initThebe() (through initThebeSBT). This loads thebe from
// the book's own assets (_static/vendored/thebe/, fetched from npm by book/fetch_assets.py), checks that
// Binder can be reached, and turns the page's code cells into cells that run on a Binder kernel built
// from the book's repository. It says what is happening, and says plainly when Binder cannot be reached.
// Only pages that offer live code load it (book/bookext/assets.py), with window.BOOK_LIVE set:
// {repo: "owner/name", ref, binderUrl, path: the notebook's folder, colab: the page's Colab link}.
(function () {
  "use strict";
  var cfg = window.BOOK_LIVE || {};
  var here = document.currentScript && document.currentScript.src;
  var thebeBase = new URL("vendored/thebe/", here || document.baseURI).href;
  var started = false;
  var PROBE_MS = 10000; // how long to wait for mybinder.org to answer before saying it cannot be reached

  function statusBox() {
    var box = document.querySelector(".book-live-status");
    if (!box) {
      box = document.createElement("div");
      box.className = "book-live-status";
      box.setAttribute("role", "status");
      box.setAttribute("aria-live", "polite");
      var anchor = document.querySelector(".thebe-launch-button") || document.querySelector("section h1");
      if (anchor) anchor.insertAdjacentElement("afterend", box);
      else document.body.insertBefore(box, document.body.firstChild);
    }
    var button = document.querySelector(".thebe-launch-button");
    if (button) button.style.display = "none"; // the theme's empty placeholder; the box says it all
    return box;
  }

  function say(text, kind) {
    var box = statusBox();
    box.className = "book-live-status book-live-" + (kind || "info");
    box.textContent = text;
    return box;
  }

  function cannotReach(reason) {
    var box = say("Live code cannot start: Binder (" + cfg.binderUrl + ") cannot be reached from this browser" +
                  (reason ? " (" + reason + ")" : "") + ". Live code needs an internet connection and Binder " +
                  "to be up. The page itself works offline; to run the code, ", "error");
    if (cfg.colab) {
      var a = document.createElement("a");
      a.href = cfg.colab;
      a.textContent = "open this chapter on Colab";
      box.appendChild(a);
      box.appendChild(document.createTextNode(" or download the notebook and run it in Jupyter."));
    } else {
      box.appendChild(document.createTextNode("download the notebook and run it in Jupyter."));
    }
    started = false;
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("could not load " + src)); };
      document.head.appendChild(s);
    });
  }

  function loadCss(href) {
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = href;
    document.head.appendChild(link);
  }

  // Resolves if the Binder host answers at all (an opaque response is enough), rejects otherwise.
  function probe(url) {
    var timeout = new Promise(function (_, reject) {
      setTimeout(function () { reject(new Error("no answer within " + PROBE_MS / 1000 + " s")); }, PROBE_MS);
    });
    return Promise.race([fetch(url, { mode: "no-cors", cache: "no-store" }), timeout]);
  }

  // Mark code cells and their outputs the way thebe finds them (one output slot per cell, in order).
  function prepareCells() {
    document.querySelectorAll("div.cell").forEach(function (cell) {
      var pre = cell.querySelector("div.cell_input pre");
      if (!pre) return;
      pre.setAttribute("data-executable", "true");
      pre.setAttribute("data-language", "python");
      var out = cell.querySelector("div.cell_output");
      if (!out) {
        out = document.createElement("div");
        out.className = "cell_output";
        cell.appendChild(out);
      }
      out.setAttribute("data-output", "");
      cell.querySelectorAll("button.copybtn").forEach(function (b) { b.remove(); });
    });
  }

  function listen() {
    window.thebe.on("status", function (_name, data) {
      var status = data && data.status, message = (data && data.message) || "";
      if (status === "error" || status === "failed") {
        cannotReach(message || "Binder reported an error");
      } else if (status === "ready" || status === "server-ready") {
        say("Live code is running on Binder: edit a cell and press its run button.", "ok");
      } else if (status) {
        say("Starting a live kernel on Binder (this can take a few minutes the first time): " + status +
            (message ? " — " + message : ""), "info");
      }
    });
  }

  window.initThebe = function () {
    if (started) return;
    started = true;
    if (!cfg.repo) { say("Live code is not configured for this book.", "error"); started = false; return; }
    say("Loading live code…", "info");
    loadCss(thebeBase + "thebe.css");
    loadScript(thebeBase + "index.js")
      .then(function () {
        say("Checking that Binder (" + cfg.binderUrl + ") can be reached…", "info");
        return probe(cfg.binderUrl).then(null, function (err) { throw Object.assign(err, { binder: true }); });
      })
      .then(function () {
        listen();
        prepareCells();
        return window.thebe.bootstrap({
          useBinder: true,
          requestKernel: true,
          mountActivateWidget: false,
          mountStatusWidget: false,
          selector: "[data-executable]",
          outputSelector: "[data-output]",
          mathjaxUrl: "", // no CDN MathJax; outputs with TeX show as text
          binderOptions: { repo: cfg.repo, ref: cfg.ref, binderUrl: cfg.binderUrl, repoProvider: "github" },
          kernelOptions: { name: "python3", path: cfg.path || "." }
        });
      })
      .catch(function (err) {
        if (err && err.binder) cannotReach(err.message);
        else if (!window.thebe) { say("Live code could not be loaded from this site: " + (err && err.message), "error"); started = false; }
        else cannotReach(err && err.message);
      });
  };
})();
