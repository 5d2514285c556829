// The book's page script (deferred, on every page; book/bookext/assets.py adds it after plotly.js).
//
// 1. Figures: every plotly figure is drawn through Plotly.newPlot; this wraps it so that, whatever the
//    figure's own layout says, it resizes with the page (responsive), stays legible on a phone (smaller
//    fonts, titles wrapped to the width, legend above the plot, axes with room for their labels), and
//    carries a text description (the one lmlib.plotting wrote, else "Interactive chart: <its title>").
// 2. Diagrams: on narrow screens a left-to-right mermaid flowchart is drawn top-to-bottom; a diagram
//    never shrinks below 75 % of its natural size (it scrolls sideways instead), so its text stays legible.
// 3. Tables wider than the page scroll visibly, and can be scrolled from the keyboard.
// 4. Exercise checks that only say "replace the ... with your answer" are shown as pending, not failed.
(function () {
  "use strict";
  var SMALL = 600; // px: below this a figure gets the phone layout

  // ---------------------------------------------------------------------------------------- figures
  function plainTitle(layout) {
    var t = layout && layout.title;
    var text = typeof t === "string" ? t : (t && t.text) || "";
    return text.replace(/<br\s*\/?>/gi, " ").replace(/<[^>]+>/g, "").replace(/\s+/g, " ").trim();
  }

  function wrapText(text, width, size) {
    var perLine = Math.max(14, Math.floor(width / (size * 0.56)));
    return text.split(/<br\s*\/?>/i).map(function (line) {
      var out = [], current = "";
      line.split(" ").forEach(function (word) {
        var plainLen = (current + " " + word).replace(/<[^>]+>/g, "").length;
        if (current && plainLen > perLine) { out.push(current); current = word; }
        else { current = current ? current + " " + word : word; }
      });
      if (current) out.push(current);
      return out.join("<br>");
    }).join("<br>");
  }

  function fontOf(obj, size) {
    var font = Object.assign({}, obj && obj.font);
    font.size = Math.min(font.size || size, size);
    return font;
  }

  // The layout a figure gets at container width `width` (a copy; the figure's own layout is kept).
  function adapt(spec, width) {
    var L = JSON.parse(JSON.stringify(spec.layout || {}));
    var shown = (spec.data || []).filter(function (t) { return t.showlegend !== false; });
    L.autosize = true;
    delete L.width;
    if (width >= SMALL) {
      // a title longer than the figure is wide is wrapped, and the figure makes room for its lines
      if (L.title) {
        var tw = typeof L.title === "string" ? { text: L.title } : L.title;
        var size = (tw.font && tw.font.size) || 17;
        var plain = (tw.text || "").replace(/<br\s*\/?>/gi, "\n").replace(/<[^>]+>/g, "");
        var longest = Math.max.apply(null, plain.split("\n").map(function (x) { return x.length; }));
        if (longest * size * 0.56 > width - 40) {
          tw.text = wrapText(tw.text, width - 40, size);
          tw.yref = "paper"; tw.y = 1; tw.yanchor = "bottom"; tw.automargin = true;
          tw.pad = Object.assign({ b: 10 }, tw.pad);
          L.title = tw;
        }
      }
      return L;
    }
    var lines = 0;
    if (L.title) {
      var t = typeof L.title === "string" ? { text: L.title } : L.title;
      t.font = fontOf(t, 14);
      t.text = wrapText(t.text || "", width - 24, t.font.size);
      lines = t.text ? t.text.split("<br>").length : 0;
      t.x = 0.02; t.xref = "container"; t.xanchor = "left";
      t.y = 1; t.yref = "paper"; t.yanchor = "bottom"; t.automargin = true; // above the plot, with room made for it
      L.title = t;
    }
    L.font = fontOf(L, 11);
    // a legend goes below the figure, in rows that fit the width (plotly wraps a horizontal legend)
    var legend = L.showlegend === true || (L.showlegend !== false && shown.length > 1);
    var rows = 0;
    if (legend) {
      var used = 0;
      rows = 1;
      shown.forEach(function (t) {
        var w = 44 + 6 * String(t.name || "trace").length;
        if (used + w > width - 10 && used > 0) { rows += 1; used = 0; }
        used += w;
      });
    }
    // subplot titles (annotations in a row at the same height) share the width: wrap each to its share
    var perRow = {};
    var onPaper = function (a) { return (a.xref || "paper") === "paper" && (a.yref || "paper") === "paper"; };
    (L.annotations || []).forEach(function (a) {
      a.font = fontOf(a, 10);
      if (onPaper(a)) { var key = String(Math.round((a.y || 0) * 100)); perRow[key] = (perRow[key] || 0) + 1; }
    });
    (L.annotations || []).forEach(function (a) {
      if (!onPaper(a) || typeof a.text !== "string") return;
      var share = (width - 60) / perRow[String(Math.round((a.y || 0) * 100))];
      a.text = wrapText(a.text, share, a.font.size);
    });
    var height = L.height || (spec.__divHeight) || 450;
    var onTop = legend && (L.sliders || []).length > 0; // a slider sits below the plot: legend goes on top
    if (legend) {
      L.legend = Object.assign({}, L.legend, onTop ? {
        orientation: "h", x: 0, xref: "paper", xanchor: "left", y: 1, yref: "paper", yanchor: "bottom"
      } : {
        orientation: "h", x: 0, xref: "container", xanchor: "left", y: 0, yref: "container", yanchor: "bottom"
      });
      L.legend.font = fontOf(L.legend, 10);
    }
    var headings = 0; // lines of subplot titles above the plots
    (L.annotations || []).forEach(function (a) {
      if ((a.y || 0) >= 0.95 && onPaper(a) && typeof a.text === "string") {
        headings = Math.max(headings, a.text.split("<br>").length);
      }
    });
    if (L.title) L.title.pad = { b: (onTop ? 22 * rows : 0) + (headings ? 14 * headings + 4 : 0) + 8 };
    var m = Object.assign({}, L.margin);
    L.margin = { l: Math.min(m.l == null ? 50 : m.l, 48), r: Math.min(m.r == null ? 20 : m.r, 12),
                 t: 12, b: Math.min(m.b == null ? 50 : m.b, 45) + (onTop ? 0 : 22 * rows), pad: 0 };
    L.height = height + 22 * rows + 17 * Math.max(lines - 1, 0); // the plot keeps its room
    Object.keys(L).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        var axis = Object.assign({}, L[key]);
        axis.automargin = true;
        axis.tickfont = fontOf({ font: axis.tickfont }, 10);
        if (axis.type === "log" && axis.dtick == null && axis.tickvals == null) {
          axis.dtick = 1; // powers of ten only: the small 2 and 5 between them would be unreadable
        }
        if (axis.title) {
          var at = typeof axis.title === "string" ? { text: axis.title } : Object.assign({}, axis.title);
          at.font = fontOf(at, 11);
          at.text = wrapText(at.text || "", key.charAt(0) === "x" ? width - 40 : 260, at.font.size);
          axis.title = at;
        }
        L[key] = axis;
      }
    });
    (L.sliders || []).forEach(function (s) {
      var many = (s.steps || []).length > width / 45;
      s.font = Object.assign(fontOf(s, 10), many ? { color: "rgba(0,0,0,0)" } : {}); // labels would overlap
      s.currentvalue = Object.assign({}, s.currentvalue, { font: fontOf(s.currentvalue, 12) });
      s.pad = Object.assign({}, s.pad, { l: 0, r: 0 });
      s.len = 1; s.x = 0;
    });
    (L.updatemenus || []).forEach(function (u) { u.font = fontOf(u, 10); });
    Object.keys(L).forEach(function (key) {
      if (/^coloraxis\d*$/.test(key) && L[key].colorbar) L[key].colorbar.thickness = 12;
    });
    return L;
  }

  // Traces at container width `width`: on a phone, colour bars take less of the width.
  function adaptData(data, width) {
    if (width >= SMALL || !Array.isArray(data)) return data;
    return data.map(function (trace) {
      if (!trace || !("colorbar" in trace || /heatmap|contour|histogram2d/.test(trace.type || ""))) return trace;
      var t = Object.assign({}, trace);
      t.colorbar = Object.assign({}, t.colorbar, { thickness: 12, tickfont: fontOf({ font: (t.colorbar || {}).tickfont }, 10) });
      return t;
    });
  }

  function describe(gd, layout) {
    if (gd.getAttribute("aria-label")) return;
    var holder = gd.closest("[data-description]");
    var title = plainTitle(layout);
    var text = (holder && holder.getAttribute("data-description")) ||
      (title ? "Interactive chart: " + title : "Interactive chart");
    gd.setAttribute("role", "figure");
    gd.setAttribute("aria-label", text);
  }

  function smallLayoutFor(gd) {
    return (gd.clientWidth || (gd.parentElement && gd.parentElement.clientWidth) || window.innerWidth);
  }

  function wrapPlotly() {
    var P = window.Plotly;
    if (!P || P.__book) return;
    var newPlot = P.newPlot;
    P.newPlot = function (el, a, b, c) {
      var gd = typeof el === "string" ? document.getElementById(el) : el;
      var spec = a && !Array.isArray(a) && (a.data || a.layout || a.frames) ? a : { data: a, layout: b, config: c };
      var width = smallLayoutFor(gd);
      spec.__divHeight = parseFloat(gd.style.height) || gd.clientHeight || 0;
      var fig = Object.assign({}, spec, {
        data: adaptData(spec.data, width),
        layout: adapt(spec, width),
        config: Object.assign({ responsive: true, displaylogo: false }, spec.config)
      });
      gd.__bookSpec = spec;
      gd.__bookSmall = width < SMALL;
      if (fig.layout.height) gd.style.height = fig.layout.height + "px";
      describe(gd, spec.layout);
      return newPlot.call(P, gd, fig);
    };
    P.__book = { adapt: adapt, SMALL: SMALL };
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        document.querySelectorAll(".js-plotly-plot").forEach(function (gd) {
          var spec = gd.__bookSpec, width = smallLayoutFor(gd);
          if (!spec || (width < SMALL) === gd.__bookSmall) return;
          gd.__bookSmall = width < SMALL;
          var layout = adapt(spec, width);
          if (layout.height || spec.__divHeight) gd.style.height = (layout.height || spec.__divHeight) + "px";
          P.react(gd, Object.assign({}, spec, { data: adaptData(spec.data, width), layout: layout,
                                                 config: Object.assign({ responsive: true }, spec.config) }));
        });
      }, 250);
    });
  }

  // ---------------------------------------------------------------------------------------- diagrams
  function narrowDiagrams() {
    if (window.innerWidth >= SMALL) return;
    document.querySelectorAll("pre.mermaid").forEach(function (el) {
      if (el.getAttribute("data-processed")) return;
      var code = el.textContent;
      var turned = code.replace(/^(\s*(?:flowchart|graph)\s+)(LR|RL)\b/, "$1TB");
      if (turned !== code) el.textContent = turned;
    });
  }

  function sizeDiagram(svg) {
    var vb = svg.viewBox && svg.viewBox.baseVal;
    var box = svg.closest(".mermaid");
    if (!vb || !vb.width || !box) return;
    var avail = box.clientWidth || (box.parentElement && box.parentElement.clientWidth) || window.innerWidth;
    var width = Math.min(vb.width, Math.max(avail, vb.width * 0.75)); // 16 px labels stay >= 12 px
    // (important: sphinxcontrib-mermaid's own style caps diagrams at the column width with !important)
    svg.style.setProperty("max-width", "none", "important");
    svg.style.setProperty("width", width + "px", "important");
    svg.style.setProperty("height", (vb.height * width / vb.width) + "px", "important");
    if (width > avail + 1 && /flowchart-v2|graph/.test(svg.getAttribute("aria-roledescription") || "")) {
      box.scrollLeft = (width - avail) / 2; // a tree drawn top-down has its root in the middle
    }
    var figure = svg.closest(".book-diagram");
    if (figure && !svg.getAttribute("aria-label")) {
      svg.setAttribute("role", "img");
      svg.setAttribute("aria-label", figure.getAttribute("aria-label"));
    }
    markScrolling(box);
  }

  function watchDiagrams() {
    var boxes = document.querySelectorAll(".mermaid");
    if (!boxes.length) return;
    var observer = new MutationObserver(function (records) {
      records.forEach(function (r) {
        r.addedNodes.forEach(function (n) {
          if (n.nodeName && n.nodeName.toLowerCase() === "svg") sizeDiagram(n);
        });
      });
    });
    boxes.forEach(function (box) { observer.observe(box, { childList: true }); });
  }

  // ---------------------------------------------------------------------------------------- tables
  function markScrolling(el) {
    if (el.scrollWidth > el.clientWidth + 2) {
      if (!el.classList.contains("book-scrolls")) {
        el.classList.add("book-scrolls");
        if (!el.hasAttribute("tabindex")) el.setAttribute("tabindex", "0");
        if (!el.getAttribute("aria-label") && el.tagName === "TABLE") {
          el.setAttribute("role", "region");
          el.setAttribute("aria-label", "Table (scrolls sideways)");
        }
      }
    }
  }

  function markTables() {
    document.querySelectorAll(".cell_output table, .book-widget table, .pst-scrollable-table-container, " +
                              "div.cell_output pre, .book-widget-body").forEach(markScrolling);
  }

  // ---------------------------------------------------------------------------------------- exercises
  function pendingChecks() {
    document.querySelectorAll(".lmlib-check").forEach(function (el) {
      if (/replace the \.\.\. with your/.test(el.textContent)) {
        el.classList.add("lmlib-check-pending");
        var b = el.querySelector("b");
        if (b && b.firstChild && b.firstChild.nodeType === 3) {
          b.firstChild.nodeValue = b.firstChild.nodeValue.replace(/^\s*✘\s*/, "✎ ");
        }
        el.setAttribute("title", "Not answered yet: write your answer in the notebook and run the cell");
      }
    });
  }

  wrapPlotly(); // plotly.js (deferred, earlier in the page) has run; the figures draw on DOMContentLoaded
  narrowDiagrams();
  watchDiagrams();
  pendingChecks();
  document.addEventListener("DOMContentLoaded", markTables);
  window.addEventListener("load", markTables);
  window.addEventListener("resize", function () { markTables(); });
})();
