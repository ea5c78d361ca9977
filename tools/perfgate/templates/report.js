// perfgate report: sorting, filtering and hover. Vanilla JS, no dependencies.
(function () {
  "use strict";
  var table = document.getElementById("results");
  var body = table ? table.tBodies[0] : null;
  var search = document.getElementById("filter");
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.status-filter"));
  var shown = document.getElementById("shown");

  function cellKey(row, idx, numeric) {
    var cell = row.cells[idx];
    var raw = cell.getAttribute("data-sort");
    if (raw === null) raw = cell.textContent.trim();
    if (numeric) { var v = parseFloat(raw); return isNaN(v) ? null : v; }
    return raw.toLowerCase();
  }

  function sortBy(th) {
    var idx = th.cellIndex, numeric = th.classList.contains("num") || th.hasAttribute("data-numeric");
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    Array.prototype.forEach.call(th.parentNode.cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a, idx, numeric), y = cellKey(b, idx, numeric);
      if (x === null && y === null) return 0;
      if (x === null) return 1;   // blanks last in both directions
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function applyFilter() {
    if (!body) return;
    var q = (search && search.value || "").toLowerCase();
    var allowed = {};
    boxes.forEach(function (b) { allowed[b.value] = b.checked; });
    var n = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var ok = (!q || r.getAttribute("data-name").toLowerCase().indexOf(q) >= 0) &&
               allowed[r.getAttribute("data-status")] !== false;
      r.style.display = ok ? "" : "none";
      if (ok) n++;
    });
    if (shown) shown.textContent = n + " of " + body.rows.length + " shown";
    document.body.setAttribute("data-rows-visible", String(n));
  }

  // The view lives in the URL fragment, so a link reproduces it:
  // #filter=get_mmap&sort=delta&dir=desc&show=all (show=all: every status box ticked).
  function headerByKey(key) {
    if (!table) return null;
    return Array.prototype.filter.call(table.tHead.rows[0].cells, function (th) {
      return th.getAttribute("data-key") === key;
    })[0] || null;
  }

  function saveView() {
    var parts = [];
    if (search && search.value) parts.push("filter=" + encodeURIComponent(search.value));
    var sorted = table && table.querySelector("th[aria-sort]");
    if (sorted) parts.push("sort=" + sorted.getAttribute("data-key") +
                           "&dir=" + (sorted.getAttribute("aria-sort") === "ascending" ? "asc" : "desc"));
    if (boxes.every(function (b) { return b.checked; })) parts.push("show=all");
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, "", parts.length ? "#" + parts.join("&") : location.pathname);
    }
  }

  // A hand-typed fragment may hold a bare "%" (#filter=%): decodeURIComponent throws on
  // it, which would stop the whole script; such a value is taken as it is written.
  function decodeParam(text) {
    try {
      return decodeURIComponent(text);
    } catch (e) {
      return text;
    }
  }

  function loadView() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0) params[kv.slice(0, i)] = decodeParam(kv.slice(i + 1));
    });
    if (params.filter && search) search.value = params.filter;
    if (params.show === "all") boxes.forEach(function (b) { b.checked = true; });
    var th = params.sort ? headerByKey(params.sort) : null;
    if (th) {
      sortBy(th);                                   // ascending
      if (params.dir === "desc") sortBy(th);        // second click: descending
    }
  }

  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.addEventListener("click", function () { sortBy(th); saveView(); });
    });
  }
  if (search) search.addEventListener("input", function () { applyFilter(); saveView(); });
  boxes.forEach(function (b) { b.addEventListener("change", function () { applyFilter(); saveView(); }); });
  loadView();
  applyFilter();
  if (body) {
    document.body.setAttribute("data-first-row", body.rows.length ? body.rows[0].getAttribute("data-name") : "");
  }

  // Hover tooltips for chart points (data-tip), faster and richer than <title>.
  var tip = document.getElementById("tip");
  document.addEventListener("mouseover", function (e) {
    var t = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!t || !tip) return;
    tip.textContent = t.getAttribute("data-tip");
    tip.style.display = "block";
  });
  document.addEventListener("mousemove", function (e) {
    if (tip && tip.style.display === "block") {
      tip.style.left = (e.clientX + 12) + "px"; tip.style.top = (e.clientY + 12) + "px";
    }
  });
  document.addEventListener("mouseout", function (e) {
    if (tip && e.target.closest && e.target.closest("[data-tip]")) tip.style.display = "none";
  });

  // Report to tests (and to curious readers) that the charts drew: count charts with marks.
  // data-charts-drawn: charts with marks; data-charts-visible: of those, laid out with a
  // non-empty box (charts inside a closed <details> are drawn but not visible yet).
  var charts = document.querySelectorAll("svg.chart");
  var drawn = 0, visible = 0;
  Array.prototype.forEach.call(charts, function (svg) {
    if (svg.querySelectorAll("circle, polyline").length === 0) return;
    drawn++;
    var folded = svg.closest && svg.closest("details:not([open])");
    if (!folded && svg.getBBox().width > 0) visible++;
  });
  document.body.setAttribute("data-charts-drawn", String(drawn));
  document.body.setAttribute("data-charts-visible", String(visible));
  document.body.setAttribute("data-ready", "1");
})();
