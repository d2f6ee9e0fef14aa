/* The telemetry report page: reads the embedded JSON and draws it. Every value from the data
   is written with textContent or handed to Chart.js (which draws on a canvas); nothing is parsed
   as HTML. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var report = { charts: {}, points: {}, data: data };
  window.__report = report;

  // --- numbers for people (the rules of dev_system/ops/formatting.py) ------------------------
  function group(n, digits) {
    return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  function fmtInt(v) { return v == null ? "n/a" : group(Math.round(v), 0); }
  function plural(n, word) { return n.toLocaleString("en-US") + " " + word + (n === 1 ? "" : "s"); }
  function fmtMs(v) { return v == null ? "n/a" : group(v, 0) + "ms"; }
  function fmtPct(v) { return v == null ? "n/a" : v.toFixed(1) + "%"; }
  function fmtSec(v) { return v == null ? "n/a" : group(v, 2) + "s"; }
  function fmtUsd(v) {
    if (v == null) return "n/a";
    var a = Math.abs(v), digits = 2;
    if (a !== 0 && a < 0.01) digits = Math.min(12, Math.max(2, -Math.floor(Math.log10(a)) + 1));
    return (v < 0 ? "-" : "") + "$" + group(a, digits);
  }
  function short(text, n) {
    text = String(text == null ? "" : text);
    return text.length <= n ? text : "…" + text.slice(text.length - n + 1);
  }

  // --- the DOM, text only --------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] == null || attrs[k] === false) return;
        if (k === "text") node.textContent = String(attrs[k]);
        else if (k === "cls") node.className = attrs[k];
        else node.setAttribute(k, String(attrs[k]));
      });
    }
    (children || []).forEach(function (c) {
      if (c == null) return;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }
  function byId(id) { return document.getElementById(id); }
  function show(id) { byId(id).hidden = false; }

  function traceButton(index, text) {
    if (index == null) return el("span", { cls: "code", text: text || "" });
    return el("button", { type: "button", cls: "trace-link", "data-trace": index,
      "aria-controls": "trace-view", text: text || ("trace " + index) });
  }

  /* columns: [{title, num, code, text}], rows: arrays of strings or nodes. */
  function table(caption, columns, rows, more, rowClass) {
    var head = el("tr", null, columns.map(function (c) {
      return el("th", { scope: "col", cls: c.num ? "num" : null, text: c.title });
    }));
    var body = rows.map(function (row, i) {
      return el("tr", { cls: rowClass ? rowClass(i) : null }, row.map(function (cell, j) {
        var c = columns[j] || {};
        var cls = c.num ? "num" : c.code ? "code" : c.text ? "text" : null;
        var td = el("td", { cls: cls });
        if (cell != null && typeof cell === "object") td.appendChild(cell);
        else td.textContent = cell == null ? "" : String(cell);
        return td;
      }));
    });
    var t = el("table", null, [el("caption", { cls: "visually-hidden", text: caption }), el("thead", null, [head]), el("tbody", null, body)]);
    var wrap = el("div", { cls: "table-wrap" }, [t]);
    var out = el("div", null, [wrap]);
    if (more) out.appendChild(el("p", { cls: "more", text: more }));
    return out;
  }

  // --- charts --------------------------------------------------------------------------------
  Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
  Chart.defaults.color = "#444";
  Chart.defaults.animation = false;
  Chart.defaults.responsive = true;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;
  Chart.defaults.datasets.bar.maxBarThickness = 36;

  /* A chart in a figure, with its figures as a table for screen readers and for checking. */
  function chart(container, id, caption, describe, config, tall) {
    var canvas = el("canvas", { id: "chart-" + id, role: "img", "aria-label": caption + ". " + describe });
    var box = el("div", { cls: "chart-box" + (tall ? " tall" : "") }, [canvas]);
    var labels = config.data.labels;
    var cols = [{ title: "" }].concat(config.data.datasets.map(function (d) { return { title: d.label, num: true }; }));
    var fmt = config._fmt || function (v) { return v == null ? "n/a" : String(v); };
    var rows = labels.map(function (label, i) {
      return [String(label)].concat(config.data.datasets.map(function (d) { return fmt(d.data[i]); }));
    });
    var details = el("details", null, [el("summary", { text: "Figures as a table" }), table(caption, cols, rows)]);
    var figure = el("figure", { "data-chart": id }, [el("figcaption", { text: caption }), box, details]);
    byId(container).appendChild(figure);
    delete config._fmt;
    var instance = new Chart(canvas, config);
    report.charts[id] = instance;
    report.points[id] = config.data.datasets.map(function (d) { return d.data.length; });
    return instance;
  }

  /* Threshold datasets (``_threshold``) drawn as a dashed line across the whole plot area, so
     that a window with one point still shows its threshold (a line through one point is none). */
  var thresholdLines = {
    id: "thresholdLines",
    afterDatasetsDraw: function (c) {
      var area = c.chartArea, ctx = c.ctx, scale = c.scales.y;
      c.data.datasets.forEach(function (d, i) {
        if (!d._threshold || !c.isDatasetVisible(i)) return;
        var value = d.data.find(function (v) { return v != null; });
        if (value == null) return;
        var y = scale.getPixelForValue(value);
        ctx.save();
        ctx.strokeStyle = d.borderColor;
        ctx.lineWidth = d.borderWidth || 1.5;
        ctx.setLineDash(d.borderDash || []);
        ctx.beginPath();
        ctx.moveTo(area.left, y);
        ctx.lineTo(area.right, y);
        ctx.stroke();
        ctx.restore();
      });
    },
  };

  /* Axis ticks in dollars with as many digits as the step between ticks needs ($0.005, $0.010, ...). */
  function usdTick(v, i, ticks) {
    var step = ticks && ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 0;
    var digits = step > 0 && step < 0.01 ? Math.min(12, Math.ceil(-Math.log10(step) - 1e-9)) : 2;
    return (v < 0 ? "-$" : "$") + group(Math.abs(v), Math.max(2, digits));
  }
  function moneyAxis(stacked) {
    return { stacked: !!stacked, beginAtZero: true, ticks: { callback: usdTick } };
  }
  function tooltip(fmt) {
    return { callbacks: { label: function (ctx) {
      var v = ctx.parsed && (ctx.chart.options.indexAxis === "y" ? ctx.parsed.x : ctx.parsed.y);
      return (ctx.dataset.label ? ctx.dataset.label + ": " : "") + fmt(v);
    } } };
  }
  function longLabelAxis() {
    return { ticks: { autoSkip: false, callback: function (v) { return short(this.getLabelForValue(v), 32); } } };
  }

  // --- scores -------------------------------------------------------------------------------
  var scores = data.scores;
  function fmtScore(v) { return v == null ? "n/a" : v.toFixed(2); }
  function scoreLines(names, rows, radius) {
    return names.map(function (name, i) {
      var colour = data.palette[i % data.palette.length];
      return { label: name, data: rows[i], borderColor: colour, backgroundColor: colour, pointRadius: radius,
        tension: 0.2, spanGaps: true };
    });
  }
  function scoreAxis(rows) {
    var top = 1;
    rows.forEach(function (row) { row.forEach(function (v) { if (v != null && v > top) top = v; }); });
    return { beginAtZero: true, suggestedMax: top, ticks: { callback: fmtScore } };
  }
  function dropChart(id) {
    if (report.charts[id]) { report.charts[id].destroy(); delete report.charts[id]; delete report.points[id]; }
  }
  /* A test of the run over the last runs: cost and slowest call, then its scores. */
  function renderHistory(nodeid) {
    var h = scores && scores.history, t = h && h.tests[nodeid];
    if (!t) return;
    var view = byId("test-history");
    ["test-history-cost", "test-history-scores"].forEach(dropChart);
    while (view.firstChild) view.removeChild(view.firstChild);
    var close = el("button", { type: "button", cls: "close", text: "Close" });
    close.addEventListener("click", function () { view.hidden = true; });
    view.appendChild(el("div", { cls: "trace-head" }, [el("h3", { text: "History of " + nodeid }), close]));
    var ran = t.cost.filter(function (v) { return v != null; }).length;
    view.appendChild(el("p", { cls: "hint", text: "In " + plural(ran, "run") + " of the last " + plural(h.runs.length, "run") +
      ", oldest first; this run is the last." }));
    view.appendChild(el("div", { cls: "grid", id: "test-history-charts" }));
    view.hidden = false;
    view.setAttribute("data-test-shown", nodeid);
    chart("test-history-charts", "test-history-cost", "Cost and slowest call over the last runs", "Bars of the cost and a line of the slowest call, one per run.", {
      type: "bar", _fmt: function (v) { return v == null ? "n/a" : String(v); },
      data: { labels: h.labels, datasets: [
        { label: "Cost", data: t.cost, backgroundColor: "#0072B2", yAxisID: "y" },
        { type: "line", label: "Slowest call", data: t.latency, borderColor: "#D55E00", backgroundColor: "#D55E00",
          yAxisID: "y1", pointRadius: 4, spanGaps: true }] },
      options: { scales: { y: moneyAxis(false), y1: { position: "right", beginAtZero: true, grid: { drawOnChartArea: false },
        ticks: { callback: fmtMs } } },
        plugins: { tooltip: { callbacks: { label: function (ctx) {
          return ctx.dataset.label + ": " + (ctx.dataset.yAxisID === "y1" ? fmtMs(ctx.parsed.y) : fmtUsd(ctx.parsed.y));
        } } } } },
    });
    var names = Object.keys(t.scores);
    if (names.length) {
      var rows = names.map(function (n) { return t.scores[n]; });
      chart("test-history-charts", "test-history-scores", "Scores over the last runs", "A line per score name, one point per run.", {
        type: "line", _fmt: fmtScore,
        data: { labels: h.labels, datasets: scoreLines(names, rows, 4) },
        options: { scales: { y: scoreAxis(rows) }, plugins: { tooltip: tooltip(fmtScore) } },
      });
    }
    view.scrollIntoView({ block: "start" });
    view.focus({ preventScroll: true });
  }
  report.openHistory = renderHistory;

  // --- header, alerts, cards ------------------------------------------------------------------
  document.title = data.title;
  byId("title").textContent = data.title;
  var sub = [data.period.label];
  if (data.first) sub.push(data.first + " to " + data.last);
  Object.keys(data.filters || {}).forEach(function (k) { sub.push(k + " = " + data.filters[k]); });
  byId("subtitle").textContent = sub.join(" · ");

  if (data.alerts.length) {
    show("alerts");
    byId("alerts-title").textContent = "Alerts (" + data.alerts.length + ")";
    data.alerts.forEach(function (a) { byId("alert-list").appendChild(el("li", { text: a.message, "data-rule": a.rule })); });
  }
  data.cards.forEach(function (c) {
    byId("cards").appendChild(el("div", { cls: "card" + (c.alert ? " alert" : ""), "data-card": c.id }, [
      el("div", { cls: "label", text: c.label }),
      el("div", { cls: "value", text: c.value }),
      c.alert ? el("div", { cls: "note status-bad", text: "threshold crossed" }) : null,
      c.note ? el("div", { cls: "note", text: c.note }) : null,
    ]));
  });
  data.notes.forEach(function (n) { byId("notes").appendChild(el("li", { text: n })); });

  var footer = ["Generated " + data.generated_at + " by pytest-devtelemetry", plural(data.events, "event")];
  if (data.source) footer.push("from " + data.source);
  byId("footer").textContent = footer.join(" · ");

  if (!data.events) show("empty");

  // --- over time ------------------------------------------------------------------------------
  var s = data.series, th = data.thresholds;
  var per = s.unit === "hour" ? "hour" : "day";
  // a short window has one or two points: draw them large enough to be seen
  var radius = s.labels.length <= 2 ? 5 : 2;
  if (s.labels.length) {
    show("charts-section");
    var stacked = function (values, fmt) {
      return s.agents.map(function (a, i) {
        return { label: a.name, data: values[i], backgroundColor: a.colour, borderColor: a.colour, stack: "agents" };
      });
    };
    chart("time-charts", "cost", "Cost per " + per + " by agent", "Stacked bars, one per " + per + ", one colour per agent.", {
      type: "bar", _fmt: fmtUsd,
      data: { labels: s.labels, datasets: stacked(s.cost) },
      options: { scales: { x: { stacked: true }, y: moneyAxis(true) }, plugins: { tooltip: tooltip(fmtUsd) } },
    });
    if (scores && scores.series) {  // next to the cost: what the money bought
      chart("time-charts", "scores", "Scores per " + per + " (mean over the tests)", "A line per score name.", {
        type: "line", _fmt: fmtScore,
        data: { labels: scores.series.labels, datasets: scoreLines(scores.series.names, scores.series.means, radius) },
        options: { scales: { y: scoreAxis(scores.series.means) }, interaction: { mode: "index", intersect: false },
          plugins: { tooltip: tooltip(fmtScore) } },
      });
    }
    chart("time-charts", "calls", "Calls per " + per + " by agent", "Stacked bars, one per " + per + ", one colour per agent.", {
      type: "bar", _fmt: fmtInt,
      data: { labels: s.labels, datasets: stacked(s.calls) },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { callback: fmtInt, precision: 0 } } },
        plugins: { tooltip: tooltip(fmtInt) } },
    });
    var latency = [
      { label: "P50", data: s.p50, borderColor: "#0072B2", backgroundColor: "#0072B2", pointRadius: radius, tension: 0.2 },
      { label: "P95", data: s.p95, borderColor: "#D55E00", backgroundColor: "#D55E00", pointRadius: radius, tension: 0.2,
        pointStyle: "rectRot", borderDash: [] },
    ];
    if (th.p95_latency_ms_max != null) {
      latency.push({ label: "P95 threshold", data: s.labels.map(function () { return th.p95_latency_ms_max; }),
        borderColor: "#555", borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5, backgroundColor: "#555",
        showLine: false, _threshold: true });
    }
    chart("time-charts", "latency", "Latency per " + per + " (p50 and p95)", "Lines of the median and 95th percentile latency.", {
      type: "line", _fmt: fmtMs, plugins: [thresholdLines],
      data: { labels: s.labels, datasets: latency },
      options: { spanGaps: false, scales: { y: { beginAtZero: true, ticks: { callback: fmtMs } } },
        interaction: { mode: "index", intersect: false }, plugins: { tooltip: tooltip(fmtMs) } },
    });
    var success = [{ label: "Success rate", data: s.success_rate, borderColor: "#009E73", backgroundColor: "#009E73",
      pointRadius: radius, tension: 0.2 }];
    if (th.success_rate_min != null) {
      success.push({ label: "Threshold", data: s.labels.map(function () { return th.success_rate_min; }),
        borderColor: "#B3261E", borderDash: [6, 4], pointRadius: 0, borderWidth: 1.5, backgroundColor: "#B3261E",
        showLine: false, _threshold: true });
    }
    var low = Math.min.apply(null, s.success_rate.filter(function (v) { return v != null; }).concat([th.success_rate_min == null ? 100 : th.success_rate_min]));
    chart("time-charts", "success", "Success rate per " + per + " against the threshold", "A line of the success rate and a dashed line at the threshold.", {
      type: "line", _fmt: fmtPct, plugins: [thresholdLines],
      data: { labels: s.labels, datasets: success },
      options: { scales: { y: { min: Math.max(0, Math.floor(low) - 2), max: 100, ticks: { callback: fmtPct } } },
        interaction: { mode: "index", intersect: false }, plugins: { tooltip: tooltip(fmtPct) } },
    });
  }

  // --- a pytest run ---------------------------------------------------------------------------
  var run = data.run;
  if (run) {
    show("run-section");
    var main = byId("main");  // a run's own figures come before its (short) timeline
    main.insertBefore(byId("run-section"), byId("charts-section"));
    byId("run-title").textContent = "Test run " + run.id;
    var info = run.info;
    if (info) {
      var facts = [["Status", info.status], ["Started", info.started], ["Duration", info.duration],
        ["Tests", [info.passed, "passed,", info.failed, "failed,", info.skipped, "skipped,", info.errors, "errors"].map(function (v) { return v == null ? "0" : String(v); }).join(" ")],
        ["Branch", info.branch], ["Commit", info.commit], ["Host", info.host], ["Command", info.command]];
      facts.forEach(function (f) {
        if (f[1] == null || f[1] === "") return;
        byId("run-info").appendChild(el("dt", { text: f[0] }));
        byId("run-info").appendChild(el("dd", { text: f[1], cls: f[0] === "Command" || f[0] === "Commit" ? "code" : null }));
      });
    }
    if (run.expensive.labels.length) {
      chart("run-charts", "expensive-tests", "Most expensive tests", "Horizontal bars, cost of each test.", {
        type: "bar", _fmt: fmtUsd,
        data: { labels: run.expensive.labels, datasets: [{ label: "Cost", data: run.expensive.values, backgroundColor: "#E69F00" }] },
        options: { indexAxis: "y", scales: { x: moneyAxis(false), y: longLabelAxis() }, plugins: { legend: { display: false }, tooltip: tooltip(fmtUsd) } },
      }, true);
    }
    if (run.slowest.labels.length) {
      chart("run-charts", "slowest-tests", "Slowest tests (" + run.slowest.unit + ")", "Horizontal bars, duration of each test.", {
        type: "bar", _fmt: fmtSec,
        data: { labels: run.slowest.labels, datasets: [{ label: "Duration", data: run.slowest.values, backgroundColor: "#56B4E9" }] },
        options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { callback: fmtSec } }, y: longLabelAxis() },
          plugins: { legend: { display: false }, tooltip: tooltip(fmtSec) } },
      }, true);
    }
    var b = run.baseline;
    if (b) {
      var box = byId("baseline");
      box.appendChild(el("h3", { text: "Against the baseline run " + b.id + " (" + b.shared_tests + " tests in both)" }));
      box.appendChild(table("This run against its baseline", [{ title: "Figure" }, { title: "Baseline", num: true },
        { title: "This run", num: true }, { title: "Change", num: true }], b.totals.rows));
      var grid = el("div", { cls: "grid", id: "baseline-charts" });
      box.appendChild(grid);
      var pair = function (id, caption, part, fmt, axis) {
        chart("baseline-charts", id, caption, "Grouped bars: the baseline run and this run.", {
          type: "bar", _fmt: fmt,
          data: { labels: part.labels, datasets: [
            { label: "Baseline", data: part.baseline, backgroundColor: "#999999" },
            { label: "This run", data: part.current, backgroundColor: "#0072B2" }] },
          options: { indexAxis: axis, scales: axis === "y" ? { x: { beginAtZero: true, ticks: { callback: fmt === fmtUsd ? usdTick : fmt } }, y: longLabelAxis() }
            : { y: { beginAtZero: true, ticks: { callback: fmt } } }, plugins: { tooltip: tooltip(fmt) } },
        }, axis === "y");
      };
      pair("baseline-latency", "Latency against the baseline", b.latency, fmtMs, "x");
      if (b.cost.labels.length) pair("baseline-cost", "Cost per test against the baseline", b.cost, fmtUsd, "y");
      if (b.duration.labels.length) pair("baseline-duration", "Duration per test against the baseline", b.duration, fmtSec, "y");
      if (scores && scores.baseline && scores.stats.length) {
        pair("baseline-scores", "Scores against the baseline (mean over the tests)", {
          labels: scores.stats.map(function (x) { return x.name; }),
          baseline: scores.stats.map(function (x) { return x.baseline; }),
          current: scores.stats.map(function (x) { return x.mean; }) }, fmtScore, "x");
      }
    }
    if (run.tests.rows.length) {
      byId("tests-table").appendChild(el("h3", { text: "Tests by cost" }));
      var histories = scores && scores.history ? scores.history.tests : null;
      var columns = [{ title: "Test" }, { title: "Outcome" },
        { title: "Duration", num: true }, { title: "Calls", num: true }, { title: "Tokens", num: true }, { title: "Cost", num: true }];
      if (histories) columns.push({ title: "History" });
      byId("tests-table").appendChild(table("Tests by cost", columns,
        run.tests.rows.map(function (t) {
          var row = [traceButton(t.trace, t.nodeid), el("span", { cls: t.outcome === "failed" || t.outcome === "error" ? "status-bad" : null, text: t.outcome }),
            t.duration, t.calls, t.tokens, t.cost];
          if (histories) row.push(histories[t.nodeid] ? el("button", { type: "button", cls: "trace-link history-link",
            "data-test": t.nodeid, "aria-controls": "test-history", "aria-label": "History of " + t.nodeid,
            text: "history" }) : "");
          return row;
        }), run.tests.more ? run.tests.more + " more tests not shown." : null));
    }
  }

  // --- failures -------------------------------------------------------------------------------
  if (data.failed.total || data.errors.labels.length) {
    show("failures-section");
    if (data.errors.labels.length) {
      chart("failure-charts", "errors", "Failed calls by error type", "Horizontal bars, one per error type.", {
        type: "bar", _fmt: fmtInt,
        data: { labels: data.errors.labels, datasets: [{ label: "Failed calls", data: data.errors.counts, backgroundColor: "#D55E00", maxBarThickness: 28 }] },
        options: { indexAxis: "y", scales: { x: { beginAtZero: true, ticks: { callback: fmtInt, precision: 0 } }, y: longLabelAxis() },
          plugins: { legend: { display: false }, tooltip: tooltip(fmtInt) } },
      });
    }
    var f = data.failed;
    byId("failed-table").appendChild(el("h3", { text: "Failed calls, newest first" }));
    byId("failed-table").appendChild(table("Failed calls", [{ title: "Time" }, { title: "Agent", text: true },
      { title: "Function", text: true }, { title: "Model" }, { title: "Error" }, { title: "Message", text: true },
      { title: "Latency", num: true }, { title: "Trace" }],
      f.rows.map(function (r) {
        return [r.time, r.agent, r.function, r.model || "", el("span", { cls: "status-bad", text: r.error_type }),
          r.message || "", r.latency, traceButton(r.trace, r.trace_id)];
      }), f.total > f.rows.length ? "Showing the newest " + f.rows.length.toLocaleString("en-US") + " of " + f.total.toLocaleString("en-US") + " failed calls." : null));
  }

  // --- breakdowns -----------------------------------------------------------------------------
  var names = { agent: "Per agent", model: "Per model", function: "Per function" };
  Object.keys(data.tables).forEach(function (key) {
    show("breakdowns");
    var t = data.tables[key];
    var box = byId("breakdown-tables");
    box.appendChild(el("h3", { text: names[key] || key }));
    var cols = [{ title: key, text: true }].concat(t.columns.map(function (c) { return { title: c, num: true }; }));
    box.appendChild(table(names[key] || key, cols, t.rows, t.more ? t.more + " more rows not shown." : null));
  });

  // --- traces ---------------------------------------------------------------------------------
  var reasons = { failed: "has a failed call", slowest: "has one of the slowest calls", test: "a test of the run" };
  if (data.traces.length) {
    show("traces-section");
    byId("traces-table").appendChild(table("Traces", [{ title: "Trace" }, { title: "Listed because" }, { title: "Started" },
      { title: "Calls", num: true }, { title: "Failed", num: true }, { title: "Duration", num: true }, { title: "Cost", num: true }],
      data.traces.map(function (t, i) {
        return [traceButton(i, t.id), reasons[t.reason] || t.reason, t.start, fmtInt(t.calls), fmtInt(t.failed), t.duration, t.cost];
      }), null, function (i) { return data.traces[i].failed ? "bad" : null; }));
  }

  function renderTrace(index) {
    var t = data.traces[index];
    if (!t) return;
    var view = byId("trace-view");
    while (view.firstChild) view.removeChild(view.firstChild);
    var close = el("button", { type: "button", cls: "close", text: "Close" });
    close.addEventListener("click", closeTrace);
    view.appendChild(el("div", { cls: "trace-head" }, [el("h3", { text: "Trace " + t.id }), close]));
    var facts = [plural(t.calls, "call"), t.failed + " failed", t.duration, t.cost, "started " + t.start];
    if (t.run_id) facts.push("run " + t.run_id);
    view.appendChild(el("p", { cls: "hint", text: facts.join(" · ") }));
    if (t.shown < t.calls) view.appendChild(el("p", { cls: "more", text: "Showing the first " + plural(t.shown, "call") + "." }));
    var total = Math.max(t.duration_ms || 0, 1e-9);
    var list = el("div", { role: "list", "aria-label": "Calls of trace " + t.id });
    t.events.forEach(function (e) {
      var depth = e[0], left = Math.min(100, 100 * (e[5] || 0) / total), width = Math.max(0.3, 100 * (e[6] || 0) / total);
      width = Math.min(width, 100 - left);
      var bits = [e[3]];
      if (e[4]) bits.push(e[4]);
      if (e[7] != null || e[8] != null) bits.push(fmtInt((e[7] || 0) + (e[8] || 0)) + " tokens");
      bits.push(e[9] == null ? "cost unknown" : fmtUsd(e[9]));
      var name = el("div", { cls: "trace-name" }, [
        el("span", { text: (depth ? "\u2514 " : "") + e[1] + "." + e[2] + " " }),
        el("span", { cls: "kind", text: bits.join(" · ") }),
        e[10] ? null : el("span", { cls: "err", text: "\u2716 " + (e[11] || "failed") }),
      ]);
      name.style.paddingLeft = Math.min(depth, 12) * 14 + "px";
      var bar = el("div", { cls: "bar" + (e[10] ? "" : " failed"), title: fmtMs(e[6]) });
      bar.style.left = left + "%";
      bar.style.width = width + "%";
      var label = el("span", { cls: "bar-label", text: fmtMs(e[6]) });
      if (left + width > 75) { label.style.right = (100 - left) + "%"; } else { label.style.left = (left + width) + "%"; }
      var track = el("div", { cls: "track", "aria-hidden": "true" }, [bar, label]);
      list.appendChild(el("div", { cls: "trace-row", role: "listitem", "data-depth": depth,
        "aria-label": e[1] + "." + e[2] + ", " + fmtMs(e[6]) + (e[10] ? "" : ", failed") }, [name, track]));
    });
    view.appendChild(list);
    view.hidden = false;
    view.setAttribute("data-trace-shown", String(index));
    view.scrollIntoView({ block: "start" });
    view.focus({ preventScroll: true });
  }
  var opener = null;
  function closeTrace() {
    var view = byId("trace-view");
    if (view.hidden) return;
    view.hidden = true;
    if (opener && document.contains(opener)) opener.focus();
  }
  report.openTrace = renderTrace;
  document.addEventListener("click", function (event) {
    var history = event.target.closest && event.target.closest("button.history-link");
    if (history) {
      renderHistory(history.getAttribute("data-test"));
      return;
    }
    var target = event.target.closest && event.target.closest("button.trace-link");
    if (target) {
      opener = target;
      renderTrace(Number(target.getAttribute("data-trace")));
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeTrace();
  });

  window.addEventListener("beforeprint", function () {
    Object.keys(report.charts).forEach(function (k) { report.charts[k].resize(); });
  });
  report.drawnMs = performance.now();  // from navigation start to everything drawn
  document.body.setAttribute("data-ready", "1");
})();
