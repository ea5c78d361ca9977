// trends.html: index, one series at a time, changes. Every name from the data is written with
// textContent or setAttribute, never as HTML. Sparklines draw when their row scrolls into view,
// the big chart when a series is opened: a 1,000-run history stays quick to open.
(function () {
  "use strict";
  const t0 = performance.now();
  const D = JSON.parse(document.getElementById("data").textContent);
  const body = document.body;
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const state = { view: "index", q: "", metric: "", since: D.since, sort: "b", dir: 1, s: null,
                  cq: "", ckind: "", csort: "newest" };

  // ------------------------------------------------------------------ formatting
  function fmtNs(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toPrecision(3) + " s";
    if (a >= 1e6) return (v / 1e6).toPrecision(3) + " ms";
    if (a >= 1e3) return (v / 1e3).toPrecision(3) + " us";
    return v.toPrecision(3) + " ns";
  }
  function fmt(v, unit) {
    if (v === null || v === undefined || !isFinite(v)) return "-";
    if (unit === "ns") return fmtNs(v);
    if (unit === "ratio") return v.toFixed(2) + "x";
    if (unit === "instr") return Math.abs(v) >= 1e4 ? (v / 1e3).toPrecision(4) + "k" : v.toPrecision(4);
    return String(+v.toPrecision(4));
  }
  function pct(v) { return (v > 0 ? "+" : "") + (100 * v).toFixed(1) + "%"; }
  function fmtChange(c) {
    if (!c.relative) return (c.change > 0 ? "+" : "") + c.change.toPrecision(3) + " (" + c.ci_low.toPrecision(3) +
      " .. " + c.ci_high.toPrecision(3) + ")";
    return pct(c.change) + " (" + pct(c.ci_low) + " .. " + pct(c.ci_high) + ")";
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }
  function link(pattern, values, text) {
    if (!pattern || !/^https?:\/\//.test(pattern)) return document.createTextNode(text);
    let href = pattern;
    for (const k in values) href = href.split("{" + k + "}").join(encodeURIComponent(values[k]));
    const a = el("a", "name", text);
    a.setAttribute("href", href);
    a.setAttribute("rel", "noopener");
    return a;
  }
  function commitCell(c) {
    const td = el("td", "name");
    const a = c.last_commit_before.slice(0, 10), b = c.first_commit.slice(0, 10);
    if (D.compare_url) {
      td.appendChild(link(D.compare_url, { from: c.last_commit_before, to: c.first_commit }, a + ".." + b));
    } else {
      td.appendChild(link(D.commit_url, { sha: c.last_commit_before }, a));
      td.appendChild(document.createTextNode(".."));
      td.appendChild(link(D.commit_url, { sha: c.first_commit }, b));
    }
    return td;
  }

  // ------------------------------------------------------------------ model
  const changesOf = D.series.map(() => []);
  D.changes.forEach((c, i) => { c.i = i; changesOf[c.series].push(c); });
  const rows = D.series.map((s, i) => ({
    i, s, b: s.b, m: s.m, where: s.machine + " / " + s.profile, n: s.med.length,
    latest: s.med[s.med.length - 1], delta: null, nchanges: changesOf[i].length, tr: null, drawn: false,
    hay: (s.b + " " + s.m + " " + s.machine + " " + s.profile).toLowerCase(),
  }));
  function updateDeltas() {
    for (const r of rows) {
      const m = r.s.med, k = m.length - 1 - state.since;
      r.delta = k >= 0 && m[k] ? m[m.length - 1] / m[k] - 1 : null;
    }
  }

  // ------------------------------------------------------------------ index
  const tbody = document.querySelector("#index tbody");
  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const e of entries) if (e.isIntersecting) { drawSpark(e.target.__row); observer.unobserve(e.target); }
  }, { rootMargin: "200px" }) : null;
  let sparksDrawn = 0;

  function buildIndex() {
    const metrics = [...new Set(D.series.map((s) => s.m))];
    const sel = $("metric");
    for (const m of metrics) { const o = el("option", "", m); o.value = m; sel.appendChild(o); }
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = el("tr");
      tr.__row = r;
      tr.dataset.series = String(r.i);
      tr.appendChild(el("td", "name", r.b));
      tr.appendChild(el("td", "", r.m));
      tr.appendChild(el("td", "meta", r.where));
      tr.appendChild(el("td", "num", String(r.n)));
      tr.appendChild(el("td", "num", fmt(r.latest, r.s.unit)));
      r.deltaCell = el("td", "num");
      tr.appendChild(r.deltaCell);
      tr.appendChild(el("td", "num", r.nchanges ? String(r.nchanges) : ""));
      const sp = el("td");
      sp.appendChild(svgEl("svg", { class: "spark", viewBox: "0 0 160 24", preserveAspectRatio: "none" }));
      tr.appendChild(sp);
      tr.addEventListener("click", () => { state.s = r.i; writeHash(); });
      r.tr = tr;
      frag.appendChild(tr);
      if (observer) observer.observe(tr);
    }
    tbody.appendChild(frag);
    if (!observer) rows.forEach(drawSpark);
  }

  function drawSpark(r) {
    if (r.drawn) return;
    r.drawn = true;
    const m = r.s.med, from = Math.max(0, m.length - 60), pts = m.slice(from);
    const svg = r.tr.querySelector("svg.spark");
    let lo = Infinity, hi = -Infinity;
    for (const v of pts) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const span = hi - lo || 1, dx = pts.length > 1 ? 160 / (pts.length - 1) : 0;
    let d = "";
    pts.forEach((v, k) => { d += (k ? "L" : "M") + (k * dx).toFixed(1) + " " + (22 - 20 * (v - lo) / span).toFixed(1); });
    svg.appendChild(svgEl("path", { d }));
    for (const c of changesOf[r.i]) {
      if (c.index < from) continue;
      const x = ((c.index - from - 0.5) * dx).toFixed(1);
      svg.appendChild(svgEl("line", { class: "cp", x1: x, x2: x, y1: 0, y2: 24 }));
    }
    sparksDrawn++;
    body.dataset.sparksDrawn = String(sparksDrawn);
  }

  function matcher(q) {
    q = q.trim();
    if (q.length > 2 && q.startsWith("/") && q.endsWith("/")) {
      try { const re = new RegExp(q.slice(1, -1), "i"); return (r) => re.test(r.hay); } catch (e) { /* as text */ }
    }
    const words = q.toLowerCase().split(/\s+/).filter(Boolean);
    return (r) => words.every((w) => r.hay.includes(w));
  }

  function applyIndex() {
    const t = performance.now();
    updateDeltas();
    const match = matcher(state.q);
    const key = state.sort, dir = state.dir;
    const sorted = rows.slice().sort((a, b) => {
      let x = a[key], y = b[key];
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      if (typeof x === "string") return dir * x.localeCompare(y);
      return dir * (x - y) || a.i - b.i;
    });
    let visible = 0, first = null;
    const frag = document.createDocumentFragment();
    for (const r of sorted) {
      const show = (!state.metric || r.m === state.metric) && match(r);
      r.tr.hidden = !show;
      r.tr.classList.toggle("sel", r.i === state.s);
      r.deltaCell.textContent = r.delta === null ? "-" : pct(r.delta);
      r.deltaCell.className = "num " + (r.delta > 0.02 ? "up" : r.delta < -0.02 ? "down" : "");
      frag.appendChild(r.tr);
      if (show) { visible++; if (first === null) first = r; }
    }
    tbody.appendChild(frag);
    document.querySelectorAll("#index th[data-sort]").forEach((th) => {
      th.classList.toggle("sorted", th.dataset.sort === key);
      th.classList.toggle("desc", th.dataset.sort === key && dir < 0);
    });
    document.querySelectorAll(".since-n").forEach((e) => { e.textContent = state.since + " runs"; });
    $("count").textContent = visible + " of " + rows.length + " series";
    body.dataset.rowsVisible = String(visible);
    body.dataset.firstRow = first ? first.b + " " + first.m : "";
    body.dataset.filterMs = (performance.now() - t).toFixed(1);
  }

  // ------------------------------------------------------------------ one series
  function showSeries() {
    const view = $("series-view");
    if (state.s === null || !D.series[state.s]) { view.hidden = true; body.dataset.series = ""; return; }
    const s = D.series[state.s];
    view.hidden = false;
    $("series-title").textContent = s.b + " \u00b7 " + s.m;
    const first = D.runs.date[s.x[0]] || "", last = D.runs.date[s.x[s.x.length - 1]] || "";
    $("series-meta").textContent = s.machine + " \u00b7 profile " + s.profile + " \u00b7 " + s.med.length +
      " runs, " + first.slice(0, 10) + " .. " + last.slice(0, 10) +
      (s.target !== null ? " \u00b7 target " + fmt(s.target, s.unit) : "");
    drawChart(s, changesOf[state.s]);
    const tb = document.querySelector("#series-changes tbody");
    tb.textContent = "";
    for (const c of changesOf[state.s].slice().sort((a, b) => a.index - b.index)) {
      const tr = el("tr");
      tr.appendChild(el("td", "", c.first_date.slice(0, 19).replace("T", " ")));
      tr.appendChild(commitCell(c));
      tr.appendChild(el("td", "num", fmt(c.before, s.unit)));
      tr.appendChild(el("td", "num", fmt(c.after, s.unit)));
      tr.appendChild(el("td", "num " + (c.kind === "machine" ? "" : c.change > 0 ? "up" : "down"), fmtChange(c)));
      const k = el("td"); k.appendChild(el("span", "kind " + c.kind, c.kind)); tr.appendChild(k);
      tb.appendChild(tr);
    }
    $("series-changes").hidden = changesOf[state.s].length === 0;
    body.dataset.series = String(state.s);
  }

  function drawChart(s, cps) {
    const box = $("chart");
    box.textContent = "";
    const W = Math.max(600, box.clientWidth || 900), H = 330, L = 70, R = 16, T = 14, B = 34;
    const n = s.med.length;
    // The scale follows the bulk of the medians (2nd to 98th percentile, widened by their range):
    // one wild run does not flatten the rest; it is drawn as a triangle on the edge.
    const sorted = s.med.slice().sort((a, b) => a - b);
    const q = (p) => sorted[Math.round(p * (n - 1))];
    const span0 = (q(0.98) - q(0.02)) || Math.abs(q(0.5)) * 0.05 || 1;
    const capLo = q(0.02) - span0, capHi = q(0.98) + span0;
    let lo = Infinity, hi = -Infinity;
    for (let k = 0; k < n; k++) {
      const a = s.lo[k] !== null ? s.lo[k] : s.med[k], b = s.hi[k] !== null ? s.hi[k] : s.med[k];
      if (a < lo) lo = a; if (b > hi) hi = b;
    }
    lo = Math.max(lo, capLo); hi = Math.min(hi, capHi);
    const targetOn = s.target !== null && s.target <= Math.max(hi, lo) * 2 && s.target >= lo / 2;
    if (targetOn) { lo = Math.min(lo, s.target); hi = Math.max(hi, s.target); }
    if (hi === lo) { hi += Math.abs(hi) * 0.05 || 1; lo -= Math.abs(lo) * 0.05 || 1; }
    const pad = (hi - lo) * 0.06; lo -= pad; hi += pad;
    const X = (k) => L + (n > 1 ? k * (W - L - R) / (n - 1) : (W - L - R) / 2);
    const Y = (v) => T + (H - T - B) * (1 - (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo));
    const off = (v) => v > hi || v < lo;
    const svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", class: "chart" });
    for (let g = 0; g <= 4; g++) {
      const v = lo + (hi - lo) * g / 4, y = Y(v).toFixed(1);
      svg.appendChild(svgEl("line", { class: "axis", x1: L, x2: W - R, y1: y, y2: y }));
      const t = svgEl("text", { x: L - 6, y: +y + 4, "text-anchor": "end" }); t.textContent = fmt(v, s.unit);
      svg.appendChild(t);
    }
    [0, n - 1].forEach((k, j) => {
      const t = svgEl("text", { x: X(k), y: H - 10, "text-anchor": j ? "end" : "start" });
      t.textContent = (D.runs.date[s.x[k]] || "").slice(0, 10) + "  " + (D.runs.commit[s.x[k]] || "").slice(0, 8);
      svg.appendChild(t);
    });
    let spread = "";
    for (let k = 0; k < n; k++) {
      if (s.lo[k] === null || s.hi[k] === null) continue;
      const x = X(k).toFixed(1);
      spread += "M" + x + " " + Y(s.lo[k]).toFixed(1) + "V" + Y(s.hi[k]).toFixed(1);
    }
    if (spread) svg.appendChild(svgEl("path", { class: "spread", d: spread }));
    if (targetOn) {
      const y = Y(s.target).toFixed(1);
      svg.appendChild(svgEl("line", { class: "target", x1: L, x2: W - R, y1: y, y2: y }));
      const t = svgEl("text", { x: W - R - 4, y: +y - 4, "text-anchor": "end" }); t.textContent = "target " + fmt(s.target, s.unit);
      svg.appendChild(t);
    }
    for (const c of cps) {
      const x = ((X(c.index - 1) + X(c.index)) / 2).toFixed(1);
      svg.appendChild(svgEl("line", { class: "cp", x1: x, x2: x, y1: T, y2: H - B }));
      svg.appendChild(svgEl("line", { class: "level", x1: X(Math.max(0, c.index - 30)), x2: x, y1: Y(c.before), y2: Y(c.before) }));
      svg.appendChild(svgEl("line", { class: "level", x1: x, x2: X(Math.min(n - 1, c.index + 29)), y1: Y(c.after), y2: Y(c.after) }));
    }
    let d = "";
    for (let k = 0; k < n; k++) d += (k ? "L" : "M") + X(k).toFixed(1) + " " + Y(s.med[k]).toFixed(1);
    svg.appendChild(svgEl("path", { class: "med", d }));
    if (n <= 200) for (let k = 0; k < n; k++) {
      if (!off(s.med[k])) svg.appendChild(svgEl("circle", { cx: X(k).toFixed(1), cy: Y(s.med[k]).toFixed(1), r: 2.2 }));
    }
    let offScale = 0;
    for (let k = 0; k < n; k++) {
      if (!off(s.med[k])) continue;
      offScale++;
      const x = X(k), y = Y(s.med[k]), up = s.med[k] > hi;
      const d3 = "M" + (x - 5) + " " + (up ? y + 8 : y - 8) + "L" + (x + 5) + " " + (up ? y + 8 : y - 8) + "L" + x + " " + y + "Z";
      svg.appendChild(svgEl("path", { class: "off", d: d3 }));
    }
    body.dataset.chartOffScale = String(offScale);
    const hl = svgEl("circle", { class: "hl", r: 5, cx: -10, cy: -10 });
    svg.appendChild(hl);
    const hit = svgEl("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent" });
    svg.appendChild(hit);
    const tip = $("tip");
    hit.addEventListener("mousemove", (ev) => {
      const rect = svg.getBoundingClientRect();
      const px = (ev.clientX - rect.left) * W / rect.width;
      const k = Math.max(0, Math.min(n - 1, Math.round(n > 1 ? (px - L) * (n - 1) / (W - L - R) : 0)));
      hl.setAttribute("cx", X(k)); hl.setAttribute("cy", Y(s.med[k]));
      const r = s.x[k];
      tip.textContent = "commit " + (D.runs.commit[r] || "?").slice(0, 12) + "\n" + (D.runs.date[r] || "") +
        "\nmedian " + fmt(s.med[k], s.unit) +
        (s.lo[k] !== null ? "\nmin " + fmt(s.lo[k], s.unit) + "  max " + fmt(s.hi[k], s.unit) : "");
      tip.hidden = false;
      tip.style.left = (ev.clientX + 14) + "px"; tip.style.top = (ev.clientY + 10) + "px";
    });
    hit.addEventListener("mouseleave", () => { tip.hidden = true; hl.setAttribute("cx", -10); });
    box.appendChild(svg);
    body.dataset.chartPoints = String(n);
    body.dataset.chartChanges = String(cps.length);
  }

  // ------------------------------------------------------------------ changes
  let changesBuilt = false;
  const ctbody = document.querySelector("#changes tbody");
  function buildChanges() {
    changesBuilt = true;
    for (const c of D.changes) {
      const s = D.series[c.series], tr = el("tr");
      tr.appendChild(el("td", "", c.first_date.slice(0, 19).replace("T", " ")));
      const name = el("td", "name");
      const a = el("a", "", s.b);
      a.setAttribute("href", "#view=index&s=" + c.series);
      name.appendChild(a);
      if (c["new"]) name.appendChild(el("span", "new", "NEW"));
      tr.appendChild(name);
      tr.appendChild(el("td", "", c.metric));
      tr.appendChild(el("td", "meta", c.machine + " / " + c.profile));
      tr.appendChild(commitCell(c));
      tr.appendChild(el("td", "num", fmt(c.before, s.unit)));
      tr.appendChild(el("td", "num", fmt(c.after, s.unit)));
      tr.appendChild(el("td", "num " + (c.kind === "machine" ? "" : c.change > 0 ? "up" : "down"), fmtChange(c)));
      const k = el("td"); k.appendChild(el("span", "kind " + c.kind, c.kind)); tr.appendChild(k);
      c.tr = tr;
      c.hay = (s.b + " " + c.metric + " " + c.machine + " " + c.profile).toLowerCase();
    }
  }
  function applyChanges() {
    if (!changesBuilt) buildChanges();
    const match = matcher(state.cq);
    const list = D.changes.slice();
    if (state.csort === "biggest") list.sort((a, b) => Math.abs(b.change) - Math.abs(a.change) || a.i - b.i);
    const frag = document.createDocumentFragment();
    let visible = 0, first = null;
    for (const c of list) {
      const show = (!state.ckind || c.kind === state.ckind) && match(c);
      c.tr.hidden = !show;
      frag.appendChild(c.tr);
      if (show) { visible++; if (!first) first = c; }
    }
    ctbody.appendChild(frag);
    $("ccount").textContent = visible + " of " + D.changes.length + " change points";
    body.dataset.changesVisible = String(visible);
    body.dataset.firstChange = first ? D.series[first.series].b + " " + first.metric + " " + first.first_commit : "";
  }

  // ------------------------------------------------------------------ state <-> URL fragment
  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    state.view = h.get("view") === "changes" ? "changes" : "index";
    state.q = h.get("q") || "";
    state.metric = h.get("metric") || "";
    const since = parseInt(h.get("since") || "", 10);
    state.since = since > 0 ? since : D.since;
    state.sort = ["b", "m", "where", "n", "latest", "delta", "nchanges"].includes(h.get("sort")) ? h.get("sort") : "b";
    state.dir = h.get("dir") === "desc" ? -1 : 1;
    const s = parseInt(h.get("s") || "", 10);
    state.s = s >= 0 && s < D.series.length ? s : null;
    state.cq = h.get("cq") || "";
    state.ckind = ["regression", "improvement", "machine"].includes(h.get("kind")) ? h.get("kind") : "";
    state.csort = h.get("csort") === "biggest" ? "biggest" : "newest";
  }
  function writeHash() {
    const h = new URLSearchParams();
    if (state.view !== "index") h.set("view", state.view);
    if (state.q) h.set("q", state.q);
    if (state.metric) h.set("metric", state.metric);
    if (state.since !== D.since) h.set("since", state.since);
    if (state.sort !== "b") h.set("sort", state.sort);
    if (state.dir < 0) h.set("dir", "desc");
    if (state.s !== null) h.set("s", state.s);
    if (state.cq) h.set("cq", state.cq);
    if (state.ckind) h.set("kind", state.ckind);
    if (state.csort !== "newest") h.set("csort", state.csort);
    const text = h.toString();
    if (("#" + text) !== location.hash) history.replaceState(null, "", "#" + text);
    render();
  }
  function render() {
    $("search").value = state.q; $("metric").value = state.metric; $("since").value = state.since;
    $("csearch").value = state.cq; $("ckind").value = state.ckind; $("csort").value = state.csort;
    $("index-view").hidden = state.view !== "index";
    $("changes-view").hidden = state.view !== "changes";
    $("tab-index").classList.toggle("on", state.view === "index");
    $("tab-changes").classList.toggle("on", state.view === "changes");
    body.dataset.view = state.view;
    if (state.view === "index") { applyIndex(); showSeries(); } else { $("series-view").hidden = true; applyChanges(); }
  }

  buildIndex();
  readHash();
  render();
  window.addEventListener("hashchange", () => { readHash(); render(); });
  $("search").addEventListener("input", (e) => { state.q = e.target.value; writeHash(); });
  $("metric").addEventListener("change", (e) => { state.metric = e.target.value; writeHash(); });
  $("since").addEventListener("change", (e) => { state.since = Math.max(1, parseInt(e.target.value, 10) || D.since); writeHash(); });
  $("csearch").addEventListener("input", (e) => { state.cq = e.target.value; writeHash(); });
  $("ckind").addEventListener("change", (e) => { state.ckind = e.target.value; writeHash(); });
  $("csort").addEventListener("change", (e) => { state.csort = e.target.value; writeHash(); });
  $("series-close").addEventListener("click", (e) => { e.preventDefault(); state.s = null; writeHash(); });
  document.querySelectorAll("#index th[data-sort]").forEach((th) => th.addEventListener("click", () => {
    const k = th.dataset.sort;
    state.dir = state.sort === k ? -state.dir : (["delta", "nchanges", "latest", "n"].includes(k) ? -1 : 1);
    state.sort = k;
    writeHash();
  }));
  // Time from the start of this script (after the HTML and data arrived) and from navigation start.
  body.dataset.scriptMs = (performance.now() - t0).toFixed(1);
  body.dataset.loadMs = performance.now().toFixed(1);
  body.dataset.ready = "1";
})();
